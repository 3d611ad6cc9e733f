"""A response cache for idempotent tools: the manager's :class:`~harness.call_hooks.ToolCache`.

:class:`ToolResponseCache` decides what is cached (only tools listed in
``cache.tools`` by ``<server kind>.<tool>`` or ``<kind>.*``, only answers that are
not ``isError``) and under which key (``<prefix><server>:<tool>:<sha256 of the
canonical JSON arguments>``); a :class:`CacheBackend` stores bytes with a TTL.
Backends: :class:`MemoryCache` (TTL + LRU, bounded, injected clock; the default)
and :class:`~harness.gateway.cache_redis.RedisCache` (when ``REDIS_URL`` or
``cache.redis_url`` is set).

A backend failure is a miss (counted as ``error``), never a failed call: the
cache can only make the gateway faster. Authorization happens before the cache
on the manager path, so a cached answer is only ever given to a caller allowed
to make the call.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from mcp.types import CallToolResult
from pydantic import ValidationError

from harness.errors import ChaosbenchError

__all__ = ["CacheBackend", "CacheBackendError", "MemoryCache", "ToolResponseCache", "cache_key"]


class CacheBackendError(ChaosbenchError):
    """The cache's store failed (unreachable, timed out, ...); the caller treats it as a miss."""


class CacheBackend(Protocol):
    """Bytes by key with a time to live."""

    name: str

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl_s: float) -> None: ...

    async def aclose(self) -> None: ...


class MemoryCache:
    """In-process TTL + LRU store of at most ``max_entries`` entries; time from ``clock``."""

    name = "memory"

    def __init__(self, max_entries: int = 10_000, *, clock: Callable[[], float] = time.monotonic) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be >= 1, got {max_entries}")
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: str) -> bytes | None:
        return self.get_now(key)

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        self.set_now(key, value, ttl_s)

    def get_now(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires_at, value = entry
        if self._clock() >= expires_at:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def set_now(self, key: str, value: bytes, ttl_s: float) -> None:
        if ttl_s <= 0:
            return
        self._entries[key] = (self._clock() + ttl_s, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
            self.evicted += 1

    async def aclose(self) -> None:
        self._entries.clear()


def cache_key(prefix: str, server: str, tool: str, arguments: Mapping[str, Any]) -> str:
    """The key of one call: the same server, tool and arguments (in any key order) give the same key."""
    canonical = json.dumps(arguments, sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"{prefix}{server}:{tool}:{digest}"


class ToolResponseCache:
    """Caches answers of the configured idempotent tools (see the module docstring).

    ``server_kinds`` maps each server name to its kind; ``counts`` has
    ``(server, tool, hit|miss|error|stored)`` for ``/metrics``.
    """

    def __init__(
        self,
        backend: CacheBackend,
        server_kinds: Mapping[str, str],
        tools: Iterable[str],
        *,
        ttl_s: float,
        key_prefix: str = "chaosbench:cache:",
    ) -> None:
        self.backend = backend
        self._kinds = dict(server_kinds)
        self._tools = frozenset(tools)
        self.ttl_s = ttl_s
        self.key_prefix = key_prefix
        self.counts: Counter[tuple[str, str, str]] = Counter()
        self.last_error = ""

    def cacheable(self, server: str, tool: str) -> bool:
        kind = self._kinds.get(server, server)
        return f"{kind}.{tool}" in self._tools or f"{kind}.*" in self._tools

    async def get(self, server: str, tool: str, arguments: dict[str, Any]) -> CallToolResult | None:
        if not self.cacheable(server, tool):
            return None
        key = cache_key(self.key_prefix, server, tool, arguments)
        try:
            raw = await self.backend.get(key)
        except CacheBackendError as exc:
            self._failed(server, tool, exc)
            return None
        if raw is None:
            self.counts[(server, tool, "miss")] += 1
            return None
        try:
            result = CallToolResult.model_validate_json(raw)
        except ValidationError as exc:
            self._failed(server, tool, exc)
            return None
        self.counts[(server, tool, "hit")] += 1
        return result

    async def put(self, server: str, tool: str, arguments: dict[str, Any], result: CallToolResult) -> None:
        if result.isError or not self.cacheable(server, tool):
            return
        key = cache_key(self.key_prefix, server, tool, arguments)
        try:
            await self.backend.set(key, result.model_dump_json(by_alias=True).encode("utf-8"), self.ttl_s)
        except CacheBackendError as exc:
            self._failed(server, tool, exc)
            return
        self.counts[(server, tool, "stored")] += 1

    def _failed(self, server: str, tool: str, exc: Exception) -> None:
        self.counts[(server, tool, "error")] += 1
        self.last_error = f"{type(exc).__name__}: {exc}"[:300]
