"""Every exception aicache raises to its callers lives here.

Only a user's own mistake surfaces as an exception: an argument that cannot be keyed, a bad option
or setting. Backend failures, corrupt entries and timeouts never reach a caller; they become misses.
"""

from __future__ import annotations

__all__ = [
    "AICacheError",
    "BackendError",
    "ConfigError",
    "EntryError",
    "KeyBuildError",
    "WriteRefused",
    "reason",
]


class AICacheError(Exception):
    """Base class of aicache's own exceptions."""


class KeyBuildError(AICacheError, TypeError):
    """An argument cannot be turned into a cache key.

    The message names the argument path (for example ``features['tempo']``), its type, and how to
    fix the call.
    """


class ConfigError(AICacheError, ValueError):
    """A setting or option has a value aicache cannot use; the message names it."""


class BackendError(AICacheError):
    """A storage tier failed. Raised by backends, always caught by the chain, never by callers."""


def reason(exc: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none): for
    one-line reports of what went wrong."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


class EntryError(BackendError):
    """One entry cannot be read or written (a Redis key of another type, a directory where an
    entry file belongs). A miss for that key only: the tier stays in use for every other key."""


class WriteRefused(BackendError):
    """The tier answers but refuses to store (a full disk, Redis out of memory or read-only).
    Stores skip the tier for a cool-down; its reads go on."""
