"""Which Redis a URL names: one server, a cluster, or a Sentinel-managed primary; and its clients.

The forms (``mode`` ``"auto"``, the default, reads them from the URL):

* ``redis://host:6379/0``, ``rediss://...``, ``unix://...``: one server.
* ``redis://host:7000?cluster=true`` (or ``mode="cluster"``): a Redis Cluster; the URL names any
  one node and the client learns the others from it.
* ``redis+sentinel://[user:password@]host:26379,host2:26379/<service>[/<db>]``: the primary that
  the Sentinels at those addresses manage under ``<service>``, followed across failovers. The
  user and password are the data servers'; ``?sentinel_password=...`` gives the Sentinels' own.

Nothing here guesses from the server: a URL means one thing before any connection is made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from .._errors import ConfigError

__all__ = ["MODES", "Target", "async_client", "parse_target", "safe_url", "sync_client"]

Mode = Literal["standalone", "cluster", "sentinel"]
MODES = ("auto", "standalone", "cluster", "sentinel")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True)
class Target:
    """A parsed Redis location. ``url`` is what the client library is given (for a cluster or a
    single server); ``sentinels``, ``service`` and ``db`` are set for a Sentinel primary."""

    mode: Mode
    url: str
    sentinels: tuple[tuple[str, int], ...] = ()
    service: str = ""
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_password: str | None = None


def parse_target(url: str, mode: str = "auto") -> Target:
    """Read ``url`` (with ``mode`` one of :data:`MODES`); a bad one is a :class:`ConfigError`
    that says what to write instead."""
    if mode not in MODES:
        raise ConfigError(f"redis mode must be one of {', '.join(MODES)}, not {mode!r}")
    scheme = url.partition("://")[0].lower()
    if scheme == "redis+sentinel":
        if mode not in ("auto", "sentinel"):
            raise ConfigError(f"a redis+sentinel:// URL cannot be used with mode={mode!r}")
        return _sentinel(url)
    if scheme == "rediss+sentinel":
        raise ConfigError("TLS to Sentinels is not supported: use redis+sentinel://")
    if mode == "sentinel":
        raise ConfigError(
            "mode 'sentinel' needs a redis+sentinel://host:26379,host2:26379/<service> URL"
        )
    if scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(
            f"use a redis://, rediss://, unix:// or redis+sentinel:// URL, not {safe_url(url)!r}"
        )
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    flag = [v for k, v in query if k == "cluster"]
    rest = [(k, v) for k, v in query if k != "cluster"]
    cluster = mode == "cluster"
    if flag:
        value = flag[-1].lower()
        if value not in _TRUE + _FALSE:
            raise ConfigError(f"the URL's cluster={flag[-1]!r} must be true or false")
        if value in _TRUE and mode == "standalone":
            raise ConfigError("the URL says cluster=true but mode is 'standalone'")
        cluster = cluster or value in _TRUE
    plain = urlunsplit(parts._replace(query=urlencode(rest)))
    if cluster:
        if scheme == "unix":
            raise ConfigError("a Redis Cluster is reached over TCP: use redis:// or rediss://")
        return Target("cluster", plain)
    return Target("standalone", plain)


def _sentinel(url: str) -> Target:
    parts = urlsplit(url)
    userinfo, _, hosts = parts.netloc.rpartition("@")
    username: str | None = None
    password: str | None = None
    if userinfo:
        user, colon, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
    sentinels: list[tuple[str, int]] = []
    for item in hosts.split(","):
        host, colon, port = item.strip().rpartition(":")
        if not colon:
            host, port = item.strip(), "26379"
        try:
            number = int(port)
        except ValueError:
            raise ConfigError(f"sentinel address {item!r} has no port number") from None
        if not host:
            raise ConfigError(f"sentinel address {item!r} has no host")
        sentinels.append((host.strip("[]"), number))
    path = [p for p in parts.path.split("/") if p]
    if not path or len(path) > 2:
        raise ConfigError(
            "a redis+sentinel:// URL ends in /<service>[/<db>]: "
            "redis+sentinel://host:26379,host2:26379/mymaster/0"
        )
    try:
        db = int(path[1]) if len(path) == 2 else 0
    except ValueError:
        raise ConfigError(
            f"the database in a redis+sentinel:// URL is a number, not {path[1]!r}"
        ) from None
    query = dict(parse_qsl(parts.query))
    return Target(
        "sentinel",
        url,
        tuple(sentinels),
        unquote(path[0]),
        db,
        username,
        password,
        query.get("sentinel_password"),
    )


def async_client(target: Target, **options: Any) -> Any:
    """A ``redis.asyncio`` client for ``target``; ``options`` are connection settings
    (``socket_timeout``, ``socket_connect_timeout``, ``max_connections``, ``retry``; ``timeout``,
    the wait for a free connection, for a single server only)."""
    import redis.asyncio as aioredis
    from redis.asyncio.cluster import RedisCluster
    from redis.asyncio.sentinel import Sentinel

    if target.mode == "cluster":
        return RedisCluster.from_url(target.url, **options)
    if target.mode == "sentinel":
        # Sentinel's pool raises at its limit instead of waiting (during a failover, connections
        # to the old primary are still counted): the tier's gate bounds concurrent operations.
        options.pop("max_connections", None)
        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            list(target.sentinels),
            sentinel_kwargs=_sentinel_kwargs(target, options),
            **options,
        )
        return sentinel.master_for(
            target.service, db=target.db, username=target.username, password=target.password
        )
    # A blocking pool: a call past max_connections waits for a connection instead of failing.
    return aioredis.Redis(
        connection_pool=aioredis.BlockingConnectionPool.from_url(target.url, **options)
    )


def sync_client(target: Target, **options: Any) -> Any:
    """A blocking ``redis`` client for ``target`` (background work: fleet stats)."""
    import redis
    from redis.cluster import RedisCluster
    from redis.sentinel import Sentinel

    if target.mode == "cluster":
        return RedisCluster.from_url(target.url, **options)
    if target.mode == "sentinel":
        sync = Sentinel(  # type: ignore[no-untyped-call]
            list(target.sentinels), sentinel_kwargs=_sentinel_kwargs(target, options), **options
        )
        return sync.master_for(  # type: ignore[no-untyped-call]
            target.service, db=target.db, username=target.username, password=target.password
        )
    return redis.Redis.from_url(target.url, **options)


def _sentinel_kwargs(target: Target, options: dict[str, Any]) -> dict[str, Any]:
    kwargs = {k: v for k, v in options.items() if k in ("socket_timeout", "socket_connect_timeout")}
    if target.sentinel_password is not None:
        kwargs["password"] = target.sentinel_password
    return kwargs


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not sep or not at:
        return url
    user = userinfo.partition(":")[0]
    return f"{scheme}://{user}:***@{host}" if user else f"{scheme}://***@{host}"
