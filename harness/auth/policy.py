"""Authorization as data: roles grant permissions, permissions grant tools.

A tool is named ``<kind>.<tool>`` by the *kind* of its server (``weather``,
``filesystem``, ``database``), so a server called ``weather-eu`` of kind
``weather`` is covered by the same permissions. A permission's tool list may
use ``<kind>.*`` for every tool of a kind.

A role's permission may be a wildcard: ``files:*`` grants every permission
whose name starts with ``files:``. ``admin:*`` is the superuser permission: it
grants every tool, including tools that no permission names. **A tool no
permission names needs** ``admin:*``: a server that grows a new tool does not
open it to anyone by accident.

The default map is the seeds':

| permission | tools |
|---|---|
| ``weather:read`` | ``weather.get_current_weather``, ``weather.get_forecast`` |
| ``files:read`` | ``filesystem.read_file``, ``filesystem.list_files`` |
| ``files:write`` | ``filesystem.write_file`` |
| ``database:query`` | ``database.query`` |
| ``database:modify`` | ``database.insert``, ``database.update`` |
| ``admin:*`` | everything |

and the default roles: ``guest`` (``weather:read``), ``user`` (the three read
permissions), ``editor`` (every read and write permission) and ``admin``
(``admin:*``). A role not in the map grants nothing.

:class:`Policy` is pure: it decides from the roles, the kind and the tool.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

__all__ = [
    "ADMIN_PERMISSION",
    "DEFAULT_PERMISSIONS",
    "DEFAULT_ROLES",
    "Decision",
    "Policy",
    "PolicyError",
]

ADMIN_PERMISSION = "admin:*"

DEFAULT_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "weather:read": ("weather.get_current_weather", "weather.get_forecast"),
    "files:read": ("filesystem.read_file", "filesystem.list_files"),
    "files:write": ("filesystem.write_file",),
    "database:query": ("database.query",),
    "database:modify": ("database.insert", "database.update"),
}

DEFAULT_ROLES: dict[str, tuple[str, ...]] = {
    "guest": ("weather:read",),
    "user": ("weather:read", "files:read", "database:query"),
    "editor": ("weather:read", "files:read", "files:write", "database:query", "database:modify"),
    "admin": (ADMIN_PERMISSION,),
}

_PERMISSION = re.compile(r"^[a-z][a-z0-9_-]*:([a-z][a-z0-9_-]*|\*)$")
_TOOL = re.compile(r"^[A-Za-z0-9_-]+\.([A-Za-z0-9_.-]+|\*)$")
_ROLE = re.compile(r"^[A-Za-z0-9_.:-]{1,40}$")


class PolicyError(ValueError):
    """The roles or permissions map is invalid (names the entry and what was expected)."""


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether a tool call is allowed, by which permission, and why not."""

    allowed: bool
    permission: str  # the permission that granted it, or the one(s) it would need
    reason: str = ""


class Policy:
    """Roles → permissions → tools. Raises :class:`PolicyError` for an invalid map."""

    def __init__(
        self,
        roles: Mapping[str, Iterable[str]] | None = None,
        permissions: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        perms = {name: tuple(tools) for name, tools in (permissions or DEFAULT_PERMISSIONS).items()}
        role_map = {name: tuple(p) for name, p in (roles or DEFAULT_ROLES).items()}
        _validate(role_map, perms)
        self.roles: dict[str, tuple[str, ...]] = role_map
        self.permissions: dict[str, tuple[str, ...]] = perms
        # tool -> the permissions naming it; kind -> permissions naming "<kind>.*"
        self._by_tool: dict[str, set[str]] = {}
        self._by_kind: dict[str, set[str]] = {}
        for perm, tools in perms.items():
            for tool in tools:
                kind, name = tool.split(".", 1)
                target = self._by_kind.setdefault(kind, set()) if name == "*" else None
                if target is not None:
                    target.add(perm)
                else:
                    self._by_tool.setdefault(tool, set()).add(perm)
        self._granted = lru_cache(maxsize=1024)(self._expand)
        # decide() runs on every tool call; the policy never changes, so each answer is kept.
        self._decided = lru_cache(maxsize=4096)(self._decide)

    def permissions_of(self, roles: Iterable[str]) -> frozenset[str]:
        """Every permission the roles hold (wildcards kept as written); unknown roles add nothing."""
        return self._granted(tuple(sorted(set(roles))))

    def needed_for(self, kind: str, tool: str) -> frozenset[str]:
        """The permissions that grant ``kind.tool``; empty when none does (then only ``admin:*``)."""
        return frozenset(self._by_tool.get(f"{kind}.{tool}", set()) | self._by_kind.get(kind, set()))

    def decide(self, roles: Iterable[str], kind: str, tool: str) -> Decision:
        """Whether ``roles`` may call ``tool`` on a server of ``kind`` (answers are cached per argument)."""
        return self._decided(roles if type(roles) is tuple else tuple(roles), kind, tool)

    def _decide(self, roles: tuple[str, ...], kind: str, tool: str) -> Decision:
        held = self.permissions_of(roles)
        if ADMIN_PERMISSION in held:
            return Decision(True, ADMIN_PERMISSION)
        needed = self.needed_for(kind, tool)
        if not needed:
            return Decision(
                False, ADMIN_PERMISSION, f"{kind}.{tool} is named by no permission, so it needs admin:*"
            )
        for perm in sorted(needed):
            if _holds(held, perm):
                return Decision(True, perm)
        wanted = " or ".join(sorted(needed))
        return Decision(False, wanted, f"{kind}.{tool} needs {wanted}")

    def tools_of(self, roles: Iterable[str], offered: Mapping[str, Iterable[str]]) -> dict[str, set[str]]:
        """Of the tools ``offered`` per kind, those ``roles`` may call (for docs and tests)."""
        return {
            kind: {tool for tool in tools if self.decide(roles, kind, tool).allowed}
            for kind, tools in offered.items()
        }

    def _expand(self, roles: tuple[str, ...]) -> frozenset[str]:
        return frozenset(p for role in roles for p in self.roles.get(role, ()))


def _holds(held: frozenset[str], perm: str) -> bool:
    if perm in held:
        return True
    prefix = perm.split(":", 1)[0]
    return f"{prefix}:*" in held


def _validate(roles: Mapping[str, tuple[str, ...]], perms: Mapping[str, tuple[str, ...]]) -> None:
    for perm, tools in perms.items():
        if not _PERMISSION.match(perm) or perm.endswith(":*"):
            raise PolicyError(
                f"permissions: {perm!r} is not a permission name; expected 'area:action' "
                "(lower case; wildcards belong in roles)"
            )
        for tool in tools:
            if not _TOOL.match(tool):
                raise PolicyError(
                    f"permissions.{perm}: {tool!r} is not a tool; expected '<server kind>.<tool>' or '<kind>.*'"
                )
    for role, granted in roles.items():
        if not _ROLE.match(role):
            raise PolicyError(f"roles: {role!r} is not a role name; expected 1-40 of A-Z a-z 0-9 _ . : -")
        for perm in granted:
            if perm == ADMIN_PERMISSION:
                continue
            if not _PERMISSION.match(perm):
                raise PolicyError(f"roles.{role}: {perm!r} is not a permission; expected 'area:action'")
            if perm.endswith(":*"):
                prefix = perm[:-1]
                if not any(p.startswith(prefix) for p in perms):
                    raise PolicyError(f"roles.{role}: {perm!r} matches no permission; known: {sorted(perms)}")
            elif perm not in perms:
                raise PolicyError(
                    f"roles.{role}: unknown permission {perm!r}; known: {sorted(perms)} and {ADMIN_PERMISSION}"
                )
