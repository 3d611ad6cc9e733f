"""The database server: SQL that no argument can change, read-only queries, errors, and faults."""

from __future__ import annotations

import asyncio
import gc
import random
import re
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp.server.fastmcp import FastMCP
from mcp.server.fastmcp.exceptions import ToolError
from mcp.shared.memory import create_connected_server_and_client_session
from mcp.types import TextContent

from fault_servers import ErrorFault, FaultConfigError, FaultInjector, FaultPlan, LatencyFault
from fault_servers.cli import main
from fault_servers.database import MAX_LIMIT, Database, DatabaseFileError, build_database_server, quote

COLUMNS = {
    "cities": ("id", "name", "country", "population"),
    "readings": ("id", "city_id", "temperature_c", "taken_at"),
}
INJECTIONS = [
    "cities; DROP TABLE cities; --",
    'cities"; DROP TABLE readings; --',
    "x' OR '1'='1",
    "' OR 1=1 --",
    "1 OR 1=1",
    "cities --",
    "cities/*",
    "*/",
    "name = name",
    '"name"',
    'name"',
    "; VACUUM",
    "sqlite_master",
    "sqlite_sequence",
    "CITIES",
    "ｃｉｔｉｅｓ",
    "cities\x00",
    "",
    " ",
    "readings WHERE 1=1",
    "name) VALUES ('x'); --",
    "'); DROP TABLE cities; --",
    "Robert'); DROP TABLE cities;--",
]


class RecordingSleep:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, delay_s: float) -> None:
        self.calls.append(delay_s)


def injector(*faults: ErrorFault | LatencyFault) -> FaultInjector:
    return FaultInjector(FaultPlan(faults=faults, source="test"), random.Random(0))


def call(server: FastMCP, tool: str, arguments: dict[str, Any]) -> dict[str, Any] | ToolError:
    """A tool call's structured result, or the ToolError it failed with."""
    try:
        _, structured = asyncio.run(server.call_tool(tool, arguments))
    except ToolError as exc:
        return exc
    assert isinstance(structured, dict)
    return structured


def state(path: Path) -> tuple[list[tuple[Any, ...]], dict[str, int]]:
    """The schema (sqlite_master) and the row count of every table, read on a separate, untraced connection."""
    conn = sqlite3.connect(path)
    try:
        schema = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name").fetchall()
        counts = {name: conn.execute(f"SELECT count(*) FROM {quote(name)}").fetchone()[0] for name in COLUMNS}
    finally:
        conn.close()
    return schema, counts


def statement_pattern(identifiers: list[str]) -> re.Pattern[str]:
    """Every statement the server may run, with only `identifiers` as names (trace SQL has values inlined)."""
    name = "(?:" + "|".join(re.escape(quote(i)) for i in sorted(identifiers, key=len, reverse=True)) + ")"
    value = r"(?:\?|NULL|'(?:[^']|'')*'|-?[0-9]+(?:\.[0-9]+)?(?:e[+-][0-9]+)?|-?Inf|x'[0-9a-f]*')"
    names = f"{name}(?:, {name})*"
    equals = f"{name} = {value}"
    templates = [
        r"BEGIN ",
        r"COMMIT",
        r"ROLLBACK",
        r"PRAGMA query_only = ON",
        r"PRAGMA foreign_keys = ON",
        f"SELECT {names} FROM {name}(?: WHERE {equals}(?: AND {equals})*)? ORDER BY {names} LIMIT {value}",
        f"INSERT INTO {name} \\({names}\\) VALUES \\({value}(?:, {value})*\\)",
        f"INSERT INTO {name} DEFAULT VALUES",
        f"UPDATE {name} SET {equals}(?:, {equals})* WHERE {equals}(?: AND {equals})*",
    ]
    return re.compile("|".join(f"(?:{t})" for t in templates), re.DOTALL)


ALLOWED = statement_pattern([*COLUMNS, *{c for cols in COLUMNS.values() for c in cols}])


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "test.sqlite3"


def test_seeding_is_the_same_for_the_same_seed_and_differs_between_seeds(tmp_path: Path) -> None:
    def rows(seed: int, name: str) -> list[dict[str, Any]]:
        db = Database.open(tmp_path / name, seed)
        found: list[dict[str, Any]] = (
            db.query("cities", {}, 100)["rows"] + db.query("readings", {}, 100)["rows"]
        )
        return found

    assert rows(1, "a") == rows(1, "b")
    assert rows(1, "a") != rows(2, "c")
    assert len(rows(1, "a")) == 8 + 24


def test_queries_filter_by_equality_in_key_order_and_clamp_the_limit(db_path: Path) -> None:
    db = Database.open(db_path, 0)

    paris = db.query("cities", {"name": "Paris"})
    readings = db.query("readings", {"city_id": 2, "taken_at": "2024-01-02T12:00:00Z"})

    assert [row["country"] for row in paris["rows"]] == ["FR"]
    assert [(row["city_id"], row["taken_at"]) for row in readings["rows"]] == [(2, "2024-01-02T12:00:00Z")]
    assert [row["id"] for row in db.query("readings", {}, 3)["rows"]] == [1, 2, 3]
    assert db.query("cities", {}, -5)["limit"] == 1
    assert db.query("cities", {}, 10**9)["limit"] == MAX_LIMIT


def test_an_injection_in_a_value_is_a_literal_that_matches_nothing(db_path: Path) -> None:
    db = Database.open(db_path, 0)

    assert db.query("cities", {"name": "x' OR '1'='1"})["rows"] == []
    assert db.query("cities", {"population": "1 OR 1=1"})["rows"] == []


def test_an_injection_in_an_inserted_value_is_stored_verbatim(db_path: Path) -> None:
    db = Database.open(db_path, 0)
    before = state(db_path)
    name = "Robert'); DROP TABLE cities;--"

    db.insert("cities", {"name": name, "country": "XX", "population": 1})

    assert db.query("cities", {"name": name})["rows"][0]["name"] == name
    assert state(db_path)[0] == before[0]


@pytest.mark.parametrize(
    ("operation", "message"),
    [
        (lambda db: db.query("towns", {}), "unknown table 'towns'; expected one of cities, readings"),
        (lambda db: db.query("cities; DROP TABLE cities", {}), "unknown table 'cities; DROP TABLE cities'"),
        (
            lambda db: db.query("cities", {"name OR 1=1": 1}),
            "unknown column 'name OR 1=1' in table 'cities'; expected one of id, name, country, population",
        ),
        (lambda db: db.insert("cities", {'name"': "x"}), "unknown column 'name\"' in table 'cities'"),
        (lambda db: db.update("cities", {"population": 1}, {"1": 1}), "unknown column '1' in table 'cities'"),
        (lambda db: db.update("cities", {}, {"id": 1}), "values must set at least one column"),
        (lambda db: db.update("cities", {"population": 1}, {}), "filters must name at least one column"),
        (
            lambda db: db.insert("cities", {"name": "Paris", "country": "FR", "population": 1}),
            "constraint failed in table 'cities': UNIQUE constraint failed: cities.name",
        ),
        (lambda db: db.insert("cities", {}), "NOT NULL constraint failed: cities.name"),
        (
            lambda db: db.insert("cities", {"name": "Rome", "country": "IT", "population": "many"}),
            "cannot store TEXT value in INTEGER column cities.population",
        ),
        (
            lambda db: db.insert("cities", {"name": "Rome", "country": "IT", "population": -1}),
            "CHECK constraint failed",
        ),
        (
            lambda db: db.insert("readings", {"city_id": 99, "temperature_c": 1.0, "taken_at": "now"}),
            "constraint failed in table 'readings': FOREIGN KEY constraint failed",
        ),
        (
            lambda db: db.query("cities", {"population": 2**64}),
            "value for column 'population' is outside SQLite's 64-bit integer range",
        ),
        (lambda db: db.query("cities", {"population": float("nan")}), "is NaN"),
        (
            lambda db: db.query("cities", {"name": "\ud800"}),
            "value for column 'name' is not valid UTF-8 text",
        ),
        (lambda db: db.query("cities", {"name": None}), "must be text or a number, got NoneType"),
        (lambda db: db.query("cities", {}, "10"), "limit must be an integer, got '10'"),
    ],
)
def test_bad_requests_are_tool_errors_naming_the_problem_and_change_nothing(
    db_path: Path, operation: Any, message: str
) -> None:
    db = Database.open(db_path, 0)
    before = state(db_path)

    with pytest.raises(ToolError) as refused:
        operation(db)

    assert message in str(refused.value)
    assert state(db_path) == before


def test_updates_change_only_the_filtered_rows_and_count_them(db_path: Path) -> None:
    db = Database.open(db_path, 0)

    result = db.update("readings", {"temperature_c": 99.5}, {"city_id": 3})

    assert result == {"table": "readings", "updated": 3}
    assert {row["temperature_c"] for row in db.query("readings", {"city_id": 3})["rows"]} == {99.5}
    assert 99.5 not in {row["temperature_c"] for row in db.query("readings", {"city_id": 4})["rows"]}


def test_the_query_connection_cannot_write(db_path: Path) -> None:
    db = Database.open(db_path, 0)

    conn = db._connect(read_only=True)
    try:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            conn.execute("DELETE FROM cities")
    finally:
        conn.close()


def test_tables_and_columns_with_hostile_names_in_the_schema_are_quoted(db_path: Path) -> None:
    conn = sqlite3.connect(db_path)
    conn.execute('CREATE TABLE "we""ird; DROP TABLE x" ("col"" --" TEXT PRIMARY KEY, "a b" INTEGER)')
    conn.close()
    trace: list[str] = []
    db = Database.open(db_path, 0, trace_sql=trace.append)

    db.insert('we"ird; DROP TABLE x', {'col" --': "k", "a b": 1})
    rows = db.query('we"ird; DROP TABLE x', {"a b": 1})["rows"]

    assert rows == [{'col" --': "k", "a b": 1}]
    assert set(db.tables) == {'we"ird; DROP TABLE x'}
    assert (
        'SELECT "col"" --", "a b" FROM "we""ird; DROP TABLE x" WHERE "a b" = 1 ORDER BY "col"" --" LIMIT 50'
        in trace
    )


def test_an_existing_database_is_served_as_is_and_an_empty_one_is_seeded(db_path: Path) -> None:
    Database.open(db_path, 0).insert("cities", {"name": "Rome", "country": "IT", "population": 1})

    reopened = Database.open(db_path, 1)

    assert reopened.query("cities", {"name": "Rome"})["count"] == 1


@pytest.mark.parametrize("kind", ["not a database", "missing directory"])
def test_a_file_that_cannot_be_a_database_is_refused(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "nope" / "db.sqlite3" if kind == "missing directory" else tmp_path / "text.db"
    if kind == "not a database":
        path.write_text("this is not SQLite, just text long enough to have a header" * 10)

    with pytest.raises(DatabaseFileError, match="as a SQLite database"):
        build_database_server(0, None, db_path=path)


def test_generated_injections_in_names_and_values_never_alter_the_sql(db_path: Path) -> None:
    trace: list[str] = []
    server = build_database_server(0, None, db_path=db_path, trace_sql=trace.append)
    before = state(db_path)
    identifier = st.one_of(st.sampled_from(INJECTIONS), st.text(max_size=30))
    value = st.one_of(
        st.sampled_from(INJECTIONS), st.text(max_size=30), st.integers(-(2**70), 2**70), st.floats()
    )

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        table=st.one_of(st.sampled_from(list(COLUMNS)), identifier),
        keys=st.lists(st.one_of(st.sampled_from(COLUMNS["cities"]), identifier), max_size=3),
        values=st.lists(value, min_size=3, max_size=3),
        limit=st.integers(-10, 5000),
    )
    def attempt(table: str, keys: list[str], values: list[Any], limit: int) -> None:
        trace.clear()
        filters = dict(zip(keys, values, strict=False))
        result = call(server, "query", {"table": table, "filters": filters, "limit": limit})

        assert state(db_path) == before
        assert all(ALLOWED.fullmatch(statement) for statement in trace), trace
        if table not in COLUMNS:
            assert isinstance(result, ToolError)
            assert "unknown table" in str(result)
        elif any(key not in COLUMNS[table] for key in filters):
            assert isinstance(result, ToolError)
            assert "unknown column" in str(result)
        if not isinstance(result, ToolError):
            assert any(statement.startswith("SELECT") for statement in trace)
            assert result["count"] <= max(1, min(limit, MAX_LIMIT))
            if table == "cities" and isinstance(filters.get("name"), str):
                assert [row["name"] for row in result["rows"]] in ([], [filters["name"]])

    attempt()


def test_generated_writes_naming_unknown_tables_or_columns_are_refused_and_change_nothing(
    db_path: Path,
) -> None:
    trace: list[str] = []
    server = build_database_server(0, None, db_path=db_path, trace_sql=trace.append)
    before = state(db_path)
    bad = st.one_of(st.sampled_from(INJECTIONS), st.text(max_size=30)).filter(
        lambda name: name not in COLUMNS and name not in COLUMNS["cities"]
    )

    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        tool=st.sampled_from(["insert", "update"]),
        bad_table=st.booleans(),
        name=bad,
        text=st.text(max_size=20),
    )
    def attempt(tool: str, bad_table: bool, name: str, text: str) -> None:
        table, column = (name, "name") if bad_table else ("cities", name)
        arguments: dict[str, Any] = (
            {"table": table, "row": {column: text, "country": "XX", "population": 1}}
            if tool == "insert"
            else {"table": table, "values": {column: text}, "filters": {"id": 1}}
        )
        result = call(server, tool, arguments)

        assert isinstance(result, ToolError)
        assert ("unknown table" if bad_table else "unknown column") in str(result)
        assert trace == []
        assert state(db_path) == before

    attempt()


def test_generated_inserted_values_are_stored_and_read_back_verbatim(db_path: Path) -> None:
    trace: list[str] = []
    server = build_database_server(0, None, db_path=db_path, trace_sql=trace.append)
    schema = state(db_path)[0]

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(name=st.one_of(st.sampled_from(INJECTIONS), st.text(min_size=1, max_size=40)))
    def attempt(name: str) -> None:
        count = state(db_path)[1]["cities"]
        inserted = call(
            server, "insert", {"table": "cities", "row": {"name": name, "country": "XX", "population": 1}}
        )
        found = call(server, "query", {"table": "cities", "filters": {"name": name}})

        assert state(db_path)[0] == schema
        assert all(ALLOWED.fullmatch(statement) for statement in trace), trace
        assert not isinstance(found, ToolError)
        if isinstance(inserted, ToolError):
            assert "UNIQUE constraint failed: cities.name" in str(inserted)
            assert state(db_path)[1]["cities"] == count
        else:
            assert state(db_path)[1]["cities"] == count + 1
        assert [row["name"] for row in found["rows"]] == [name]

    attempt()


def text_of(result: Any) -> str:
    content = result.content[0]
    assert isinstance(content, TextContent)
    return str(content.text)


async def test_the_server_serves_the_three_tools_over_an_in_memory_session(db_path: Path) -> None:
    server = build_database_server(0, None, db_path=db_path)

    async with create_connected_server_and_client_session(server) as client:
        with anyio.fail_after(10):
            tools = await client.list_tools()
            inserted = await client.call_tool(
                "insert", {"table": "cities", "row": {"name": "Rome", "country": "IT", "population": 5}}
            )
            updated = await client.call_tool(
                "update", {"table": "cities", "values": {"population": 6}, "filters": {"name": "Rome"}}
            )
            queried = await client.call_tool("query", {"table": "cities", "filters": {"name": "Rome"}})
            refused = await client.call_tool("query", {"table": "cities; DROP TABLE cities"})

    assert {tool.name for tool in tools.tools} == {"query", "insert", "update"}
    assert inserted.structuredContent == {"table": "cities", "inserted": 1, "rowid": 9}
    assert updated.structuredContent == {"table": "cities", "updated": 1}
    assert queried.structuredContent is not None
    assert queried.structuredContent["rows"] == [{"id": 9, "name": "Rome", "country": "IT", "population": 6}]
    assert refused.isError
    assert text_of(refused) == (
        "Error executing tool query: unknown table 'cities; DROP TABLE cities'; expected one of cities, readings"
    )


async def test_concurrent_inserts_are_all_committed(db_path: Path) -> None:
    server = build_database_server(0, None, db_path=db_path)

    with anyio.fail_after(30):
        await asyncio.gather(
            *(
                server.call_tool(
                    "insert",
                    {"table": "readings", "row": {"city_id": 1, "temperature_c": i, "taken_at": "t"}},
                )
                for i in range(40)
            )
        )

    assert state(db_path)[1]["readings"] == 24 + 40


def test_without_a_file_the_server_seeds_a_temporary_database_and_removes_it_when_collected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    server: FastMCP | None = build_database_server(3, None)
    assert server is not None
    result = call(server, "query", {"table": "cities", "filters": {"name": "Oslo"}})
    assert not isinstance(result, ToolError)
    assert result["count"] == 1
    assert len(list(tmp_path.iterdir())) == 1

    server = None
    gc.collect()

    assert list(tmp_path.iterdir()) == []


async def test_an_injected_error_fails_only_the_targeted_tool(db_path: Path) -> None:
    server = build_database_server(
        0, injector(ErrorFault(message="db down", tools=("insert",))), db_path=db_path
    )

    async with create_connected_server_and_client_session(server) as client:
        with anyio.fail_after(10):
            failed = await client.call_tool("insert", {"table": "cities", "row": {"name": "Rome"}})
            queried = await client.call_tool("query", {"table": "cities"})

    assert failed.isError
    assert text_of(failed) == "Error executing tool insert: db down"
    assert not queried.isError


async def test_an_injected_delay_is_served_through_the_injected_sleep_before_the_query(db_path: Path) -> None:
    sleep = RecordingSleep()
    trace: list[str] = []
    server = build_database_server(
        0, injector(LatencyFault(min_s=0.5, max_s=0.5)), db_path=db_path, sleep=sleep, trace_sql=trace.append
    )

    await server.call_tool("query", {"table": "cities"})

    assert sleep.calls == [0.5]
    assert any(statement.startswith("SELECT") for statement in trace)


def test_a_fault_plan_naming_an_unknown_tool_is_refused(db_path: Path) -> None:
    with pytest.raises(FaultConfigError, match=r"faults\[0\]\.tools\[0\]: unknown tool 'read_file'"):
        build_database_server(0, injector(ErrorFault(tools=("read_file",))), db_path=db_path)


async def test_the_health_route_answers_ok_with_the_tables(db_path: Path) -> None:
    app = build_database_server(0, None, db_path=db_path).streamable_http_app()

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as http:
        with anyio.fail_after(10):
            response = await http.get("/healthz")

    assert response.json() == {"status": "ok", "server": "database", "tables": ["cities", "readings"]}


def test_the_cli_refuses_a_file_that_is_not_a_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "text.db"
    path.write_text("plain text, not SQLite " * 20)

    assert main(["serve", "database", "--db", str(path)]) == 2
    assert "as a SQLite database: file is not a database" in capsys.readouterr().err


def test_the_cli_refuses_db_for_a_server_other_than_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "filesystem", "--db", str(tmp_path / "x.db")]) == 2
    assert "--db applies only to the database server, not 'filesystem'" in capsys.readouterr().err
