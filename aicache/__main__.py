"""``python -m aicache ...``: the same as the ``aicache`` command."""

from ._cli import main

raise SystemExit(main())
