"""The ``aicache`` command: ``stats``, ``clear``, ``inspect``, ``warm``, ``demo``, ``simulate``.

One module per command (or pair of commands), the parser and dispatch in ``_main``, and what they
print in :mod:`aicache._console`.
"""

from ._common import UsageError
from ._main import main

__all__ = ["UsageError", "main"]
