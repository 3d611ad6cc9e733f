"""The response cache's Redis backend (``REDIS_URL`` or ``cache.redis_url``).

Values are stored with ``SET key value PX ttl``, so Redis expires them. The client
is bounded so that a slow or dead Redis costs little: a blocking pool of at most
``max_connections`` connections, ``timeout_s`` for connecting, reading and waiting
for a connection, no retries; and after a failure Redis is skipped for
``down_for_s`` (those lookups are misses at once). Every failure is raised as
:class:`~harness.gateway.cache.CacheBackendError`, which the cache counts as a miss.

Only loopback Redis hosts are accepted unless ``allow_non_loopback`` is given
(chaosbench sends traffic only to 127.0.0.1 by default).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from harness.errors import ConfigError
from harness.gateway.cache import CacheBackendError
from harness.netutil import is_loopback

__all__ = ["RedisCache", "redacted_url"]


def redacted_url(url: str) -> str:
    """``url`` without its password (for logs, /health and errors)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


class RedisCache:
    """A :class:`~harness.gateway.cache.CacheBackend` on Redis. Raises :class:`ConfigError` for a bad URL."""

    name = "redis"

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 0.25,
        max_connections: int = 64,
        down_for_s: float = 1.0,
        allow_non_loopback: bool = False,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss", "unix"):
            raise ConfigError(f"redis url {redacted_url(url)!r}: expected redis://, rediss:// or unix://")
        if parts.scheme != "unix" and not is_loopback(parts.hostname or "") and not allow_non_loopback:
            raise ConfigError(
                f"redis url {redacted_url(url)!r}: host {parts.hostname!r} is not loopback; chaosbench talks "
                "only to 127.0.0.1 unless told otherwise"
            )
        self.url = redacted_url(url)
        self.down_for_s = down_for_s
        self._mono = monotonic
        self._down_until = 0.0
        self.last_error = ""
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=timeout_s,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
        )
        self._client = Redis(connection_pool=pool)

    async def get(self, key: str) -> bytes | None:
        self._check_up()
        try:
            value = await self._client.get(key)
        except (TimeoutError, RedisError, OSError) as exc:
            raise self._failed(exc) from None
        return value if isinstance(value, bytes) else None

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        self._check_up()
        try:
            await self._client.set(key, value, px=max(1, int(ttl_s * 1000)))
        except (TimeoutError, RedisError, OSError) as exc:
            raise self._failed(exc) from None

    async def ping(self) -> bool:
        """Whether Redis answers now (for ``/health``); never raises."""
        try:
            await self._client.ping()
        except (TimeoutError, RedisError, OSError) as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"[:300]
            return False
        self._down_until = 0.0
        return True

    async def aclose(self) -> None:
        await self._client.aclose()

    def _check_up(self) -> None:
        if self._mono() < self._down_until:
            raise CacheBackendError(f"redis {self.url} skipped after a failure: {self.last_error}")

    def _failed(self, exc: BaseException) -> CacheBackendError:
        self.last_error = f"{type(exc).__name__}: {exc}"[:300]
        self._down_until = self._mono() + self.down_for_s
        return CacheBackendError(f"redis {self.url}: {self.last_error}")
