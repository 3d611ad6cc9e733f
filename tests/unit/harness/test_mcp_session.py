"""CachedValidationSession validates tool results exactly as the SDK does, building each validator once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mcp import ClientSession
from mcp.shared.message import SessionMessage
from mcp.types import CallToolResult, TextContent

from harness.mcp_session import CachedValidationSession

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "temperature_c": {"type": "number"},
        "readings": {"type": "array", "items": {"$ref": "#/$defs/reading"}},
    },
    "required": ["city", "temperature_c"],
    "$defs": {"reading": {"type": "object", "properties": {"t": {"type": "number"}}, "required": ["t"]}},
}
BROKEN_SCHEMA: dict[str, Any] = {"type": "not-a-type"}


def result(structured: dict[str, Any] | None) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text="x")], structuredContent=structured)


async def sessions() -> AsyncIterator[tuple[ClientSession, CachedValidationSession]]:
    send, receive = anyio.create_memory_object_stream[SessionMessage | Exception](1)
    out_send, _out_receive = anyio.create_memory_object_stream[SessionMessage](1)
    stock = ClientSession(receive, out_send)
    cached = CachedValidationSession(receive, out_send)
    for session in (stock, cached):
        session._tool_output_schemas = {"weather": SCHEMA, "broken": BROKEN_SCHEMA, "free": None}
    yield stock, cached
    for stream in (send, receive, out_send, _out_receive):
        stream.close()


async def outcome(session: ClientSession, name: str, res: CallToolResult) -> str:
    try:
        await session._validate_tool_result(name, res)
    except RuntimeError as exc:
        return str(exc)
    return "ok"


structured = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {"city": st.one_of(st.text(max_size=5), st.integers())},
        optional={
            "temperature_c": st.one_of(st.floats(allow_nan=False), st.text(max_size=3)),
            "readings": st.lists(
                st.one_of(st.fixed_dictionaries({"t": st.integers()}), st.just({}), st.just({"t": "x"})),
                max_size=3,
            ),
        },
    ),
)


@settings(max_examples=150, deadline=None)
@given(value=structured, name=st.sampled_from(["weather", "broken", "free"]))
async def test_the_cached_session_gives_the_sdks_answer_for_every_result(
    value: dict[str, Any] | None, name: str
) -> None:
    async for stock, cached in sessions():
        assert await outcome(cached, name, result(value)) == await outcome(stock, name, result(value))


async def test_each_schema_is_checked_once_and_rebuilt_when_the_cache_is_refreshed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checks: list[object] = []
    real = jsonschema.Draft202012Validator.check_schema

    def counting(schema: Any) -> None:
        checks.append(schema)
        real(schema)

    monkeypatch.setattr(jsonschema.Draft202012Validator, "check_schema", staticmethod(counting))
    async for _stock, cached in sessions():
        good = result({"city": "Oslo", "temperature_c": 3.5})
        for _ in range(5):
            await cached._validate_tool_result("weather", good)
        assert len(checks) == 1
        cached._tool_output_schemas["weather"] = dict(SCHEMA)  # what a list_tools refresh does
        await cached._validate_tool_result("weather", good)
        assert len(checks) == 2
        bad = result({"city": "Oslo", "temperature_c": "warm"})
        with pytest.raises(RuntimeError, match="Invalid structured content returned by tool weather"):
            await cached._validate_tool_result("weather", bad)
        assert len(checks) == 2
