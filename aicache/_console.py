"""What the ``aicache`` command and the demo print: lines, tables, progress, and figures.

Tables and progress bars use ``rich`` (the ``cli`` extra) when it is installed and the stream is a
terminal; plain text otherwise, so pipes and logs get stable columns.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, TextIO

from . import _clock

__all__ = ["Progress", "duration", "money", "percent", "say", "size", "table"]


def _rich_console(stream: TextIO) -> Any:
    """A rich Console for a terminal, or ``None`` (not installed, or output is not a terminal)."""
    if not stream.isatty():
        return None
    try:
        from rich.console import Console
    except ImportError:
        return None
    return Console(file=stream, highlight=False)


def say(text: str = "", stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout
    stream.write(text + "\n")
    stream.flush()


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> None:
    """Print a table; ``right`` lists the columns to align right (numbers)."""
    console = _rich_console(sys.stdout)
    if console is not None:
        from rich.table import Table

        t = Table()
        for i, h in enumerate(headers):
            t.add_column(h, justify="right" if i in right else "left")
        for row in rows:
            t.add_row(*row)
        console.print(t)
        return
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    say(line(headers))
    say(line(["-" * w for w in widths]))
    for row in rows:
        say(line(row))


class Progress:
    """A progress bar on a terminal (rich when available); occasional lines on stderr otherwise."""

    def __init__(self, total: int, label: str) -> None:
        self.total = total
        self.label = label
        self.done = 0
        self._rich: Any = None
        self._task: Any = None
        self._last = 0.0

    def __enter__(self) -> Progress:
        console = _rich_console(sys.stderr)
        if console is not None:
            from rich import progress as bar

            self._rich = bar.Progress(
                "[progress.description]{task.description}",
                bar.BarColumn(),
                bar.MofNCompleteColumn(),
                bar.TimeElapsedColumn(),
                console=console,
                transient=True,
            )
            self._rich.__enter__()
            self._task = self._rich.add_task(self.label, total=self.total)
        return self

    def advance(self, note: str = "") -> None:
        self.done += 1
        if self._rich is not None:
            self._rich.update(self._task, advance=1)
            return
        now = _clock.monotonic()
        if self.done == self.total or now - self._last >= 1.0:
            self._last = now
            suffix = f"  {note}" if note else ""
            say(f"{self.label}: {self.done}/{self.total}{suffix}", sys.stderr)

    def __exit__(self, *exc: object) -> None:
        if self._rich is not None:
            self._rich.__exit__(None, None, None)


def money(usd: float | None) -> str:
    if usd is None:
        return "?"
    return f"${usd:.6f}" if 0 < abs(usd) < 0.01 else f"${usd:.4f}"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    s = abs(seconds)
    if s < 0.01:
        text = f"{s * 1000:.1f}ms"
    elif s < 1:
        text = f"{s * 1000:.0f}ms"
    elif s < 120:
        text = f"{s:.1f}s"
    elif s < 7200:
        text = f"{s / 60:.0f}m"
    elif s < 172800:
        text = f"{s / 3600:.1f}h"
    else:
        text = f"{s / 86400:.1f}d"
    return ("-" if seconds < 0 else "") + text


def size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024**2:
        return f"{n / 1024:.1f} KB"
    return f"{n / 1024**2:.1f} MB"


def percent(fraction: float) -> str:
    return f"{fraction * 100:.1f}%"
