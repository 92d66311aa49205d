"""``python -m aicache ...``: the same as the ``aicache`` command."""

from .cli import main

raise SystemExit(main())
