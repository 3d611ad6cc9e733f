"""Roles → permissions → tools: the seeds' default map, wildcards, admin, and invalid maps."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.auth import ADMIN_PERMISSION, DEFAULT_PERMISSIONS, AuthSettings, Policy, PolicyError

#: Every tool the reference servers offer, by kind.
OFFERED = {
    "weather": {"get_current_weather", "get_forecast"},
    "filesystem": {"read_file", "list_files", "write_file"},
    "database": {"query", "insert", "update"},
}

EXPECTED = {
    "guest": {"weather": {"get_current_weather", "get_forecast"}, "filesystem": set(), "database": set()},
    "user": {
        "weather": {"get_current_weather", "get_forecast"},
        "filesystem": {"read_file", "list_files"},
        "database": {"query"},
    },
    "editor": OFFERED,
    "admin": OFFERED,
    "nobody": {"weather": set(), "filesystem": set(), "database": set()},
}


@pytest.mark.parametrize("role", sorted(EXPECTED))
def test_each_default_role_reaches_exactly_its_tools(role: str) -> None:
    assert Policy().tools_of([role], OFFERED) == EXPECTED[role]


def test_the_default_permissions_are_the_seeds() -> None:
    assert set(DEFAULT_PERMISSIONS) == {
        "weather:read",
        "files:read",
        "files:write",
        "database:query",
        "database:modify",
    }


def test_a_tool_no_permission_names_needs_admin() -> None:
    decision = Policy().decide(["editor"], "weather", "delete_city")
    assert not decision.allowed and decision.permission == ADMIN_PERMISSION
    assert "needs admin:*" in decision.reason
    assert Policy().decide(["admin"], "weather", "delete_city").allowed
    assert not Policy().decide(["editor"], "unknown-kind", "anything").allowed


def test_a_denial_names_the_permission_it_needs() -> None:
    decision = Policy().decide(["user"], "database", "insert")
    assert (decision.allowed, decision.permission) == (False, "database:modify")


def test_roles_combine() -> None:
    assert Policy().decide(["guest", "user"], "filesystem", "read_file").allowed


def test_a_permission_wildcard_grants_its_area() -> None:
    policy = Policy(roles={"files-admin": ["files:*"]})
    assert policy.tools_of(["files-admin"], OFFERED) == {
        "weather": set(),
        "filesystem": {"read_file", "list_files", "write_file"},
        "database": set(),
    }


def test_a_kind_wildcard_covers_new_tools_of_that_kind() -> None:
    policy = Policy(roles={"forecaster": ["weather:any"]}, permissions={"weather:any": ["weather.*"]})
    assert policy.decide(["forecaster"], "weather", "a_tool_added_later").allowed
    assert not policy.decide(["forecaster"], "filesystem", "read_file").allowed


@pytest.mark.parametrize(
    ("roles", "permissions", "match"),
    [
        (
            {"r": ["files:read"]},
            {"weather:read": ["weather.get_forecast"]},
            "unknown permission 'files:read'",
        ),
        ({"r": ["nothing:*"]}, None, "matches no permission"),
        ({"bad role!": []}, None, "not a role name"),
        (None, {"Weather:Read": ["weather.x"]}, "not a permission name"),
        (None, {"weather:*": ["weather.x"]}, "not a permission name"),
        (None, {"weather:read": ["get_forecast"]}, "not a tool"),
    ],
)
def test_invalid_maps_are_refused_with_the_entry_named(
    roles: dict[str, list[str]] | None, permissions: dict[str, list[str]] | None, match: str
) -> None:
    with pytest.raises(PolicyError, match=match):
        Policy(roles, permissions)


def test_auth_settings_refuse_an_invalid_map() -> None:
    with pytest.raises(ValueError, match="unknown permission"):
        AuthSettings(roles={"r": ["files:delete"]})


@given(st.lists(st.sampled_from(["guest", "user", "editor", "nobody", "x"]), max_size=4))
def test_non_admin_roles_never_reach_a_tool_no_permission_names(roles: list[str]) -> None:
    assert not Policy().decide(roles, "filesystem", "delete_everything").allowed


ROLE_NAMES = ["guest", "user", "editor", "admin", "nobody", "x"]
CALLS = [(kind, tool) for kind, tools in sorted(OFFERED.items()) for tool in sorted(tools)] + [
    ("filesystem", "delete_everything"),
    ("unknown", "tool"),
]


@given(
    st.lists(
        st.tuples(st.lists(st.sampled_from(ROLE_NAMES), max_size=3), st.sampled_from(CALLS)),
        min_size=1,
        max_size=40,
    )
)
def test_cached_decisions_equal_fresh_ones_in_any_order(
    asks: list[tuple[list[str], tuple[str, str]]],
) -> None:
    """decide() keeps its answers (it runs on every tool call); a sequence of asks, lists and tuples
    of roles mixed, gets from one policy exactly what a new policy answers to each ask alone."""
    cached = Policy()
    for roles, (kind, tool) in asks:
        asked = roles if len(roles) % 2 else tuple(roles)
        assert cached.decide(asked, kind, tool) == Policy().decide(list(roles), kind, tool)
