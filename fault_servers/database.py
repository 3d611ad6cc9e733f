"""The reference database MCP server: SQLite tables behind a schema allow-list, behind a fault layer.

Tools:

- ``query(table, filters=None, limit=50)``: ``{"table", "rows", "count", "limit"}``:
  the rows whose columns equal every filter value, in primary-key order, at most
  `limit` of them (clamped to 1..MAX_LIMIT). Runs on a connection opened
  read-only (``mode=ro`` URI, and ``PRAGMA query_only``).
- ``insert(table, row)``: ``{"table", "inserted": 1, "rowid"}``.
- ``update(table, values, filters)``: ``{"table", "updated"}``; at least one
  filter is required, so no call rewrites a whole table.

No argument can change the SQL text. Table and column names are looked up in an
allow-list read from the schema at start (``sqlite_master``, ``PRAGMA
table_info``) and written into the statement as the schema spells them,
double-quoted; every value is a bound parameter; the limit is a clamped int. So
every statement is one of these templates, filled with allow-listed names:

    SELECT <cols> FROM <t> [WHERE <c> = ? [AND <c> = ?]...] ORDER BY <key cols> LIMIT ?
    INSERT INTO <t> (<c>[, <c>]...) VALUES (?[, ?]...)  |  INSERT INTO <t> DEFAULT VALUES
    UPDATE <t> SET <c> = ?[, <c> = ?]... WHERE <c> = ? [AND <c> = ?]...

Unknown tables or columns, unstorable values and constraint violations are
ToolErrors (``isError=True``) naming the problem. Each call opens its own
connection in a worker thread, so the event loop never waits on SQLite; writes
are serialised by an asyncio lock, and every connection waits up to
BUSY_TIMEOUT_S for SQLite's file lock. BLOB values come back as hex text.

The database is `db_path` (created and seeded when it has no tables yet) or, by
default, a temporary file removed when the server is collected or the process
exits. Seeding is deterministic in the seed: ``cities(id, name, country,
population)`` and ``readings(id, city_id, temperature_c, taken_at)``.
"""

from __future__ import annotations

import asyncio
import math
import random
import sqlite3
import tempfile
import weakref
from collections.abc import Callable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from mcp.server.fastmcp import FastMCP
from mcp.server.fastmcp.exceptions import ToolError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from fault_servers.errors import FaultServerError
from fault_servers.faults import FaultInjector, Sleep, apply_decision

SERVER_NAME: Final = "database"
TOOL_NAMES: Final = frozenset({"query", "insert", "update"})
DEFAULT_LIMIT: Final = 50
MAX_LIMIT: Final = 1000
BUSY_TIMEOUT_S: Final = 5.0
SQLITE_INT_MIN: Final = -(2**63)
SQLITE_INT_MAX: Final = 2**63 - 1
_TABLES_SQL: Final = (
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
    "ORDER BY name"
)
_SEED_CITIES: Final = (
    ("Paris", "FR"),
    ("Oslo", "NO"),
    ("Lima", "PE"),
    ("Tokyo", "JP"),
    ("Nairobi", "KE"),
    ("Sydney", "AU"),
    ("Toronto", "CA"),
    ("Cairo", "EG"),
)
_SCHEMA: Final = (
    "CREATE TABLE cities (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, country TEXT NOT NULL, "
    "population INTEGER NOT NULL CHECK (population >= 0)) STRICT",
    "CREATE TABLE readings (id INTEGER PRIMARY KEY, city_id INTEGER NOT NULL REFERENCES cities(id), "
    "temperature_c REAL NOT NULL, taken_at TEXT NOT NULL) STRICT",
)

Value = str | int | float | None
TraceSql = Callable[[str], object]


class DatabaseFileError(FaultServerError):
    """The database file given to the database server cannot be opened, created or read as SQLite."""


def quote(name: str) -> str:
    """`name` as an SQL identifier: double-quoted, inner double quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


def _shown(text: str) -> str:
    return repr(text if len(text) <= 80 else text[:80] + "...")


@dataclass(frozen=True)
class Table:
    """One allow-listed table: its name and columns as the schema spells them, and its row order."""

    name: str
    columns: tuple[str, ...]
    order_by: tuple[str, ...]

    def column(self, name: str) -> str:
        """The allow-listed column called `name`; raises ToolError naming the table's columns otherwise."""
        if name not in self.columns:
            raise ToolError(
                f"unknown column {_shown(name)} in table {self.name!r}; "
                f"expected one of {', '.join(self.columns)}"
            )
        return name


def read_schema(conn: sqlite3.Connection) -> dict[str, Table]:
    """The allow-list: every ordinary table (not ``sqlite_*``) with its columns, from the schema itself."""
    tables: dict[str, Table] = {}
    for (name,) in conn.execute(_TABLES_SQL).fetchall():
        info = conn.execute(f"PRAGMA table_info({quote(name)})").fetchall()
        columns = tuple(str(row[1]) for row in info)
        keys = tuple(str(row[1]) for row in sorted(info, key=lambda row: int(row[5])) if row[5])
        tables[name] = Table(name=name, columns=columns, order_by=keys or columns)
    return tables


def seed_database(conn: sqlite3.Connection, seed: int) -> None:
    """Create and fill ``cities`` and ``readings``; the same seed always gives the same rows."""
    rng = random.Random(f"{seed}:database")
    with conn:
        for statement in _SCHEMA:
            conn.execute(statement)
        for city_id, (name, country) in enumerate(_SEED_CITIES, start=1):
            population = rng.randint(200_000, 15_000_000)
            conn.execute("INSERT INTO cities VALUES (?, ?, ?, ?)", (city_id, name, country, population))
            for day in range(1, 4):
                conn.execute(
                    "INSERT INTO readings (city_id, temperature_c, taken_at) VALUES (?, ?, ?)",
                    (city_id, round(rng.uniform(-10.0, 35.0), 1), f"2024-01-0{day}T12:00:00Z"),
                )


def _check_value(column: str, value: object, *, nullable: bool) -> Value:
    if value is None and nullable:
        return None
    if isinstance(value, int) and not SQLITE_INT_MIN <= value <= SQLITE_INT_MAX:
        raise ToolError(f"value for column {column!r} is outside SQLite's 64-bit integer range")
    if isinstance(value, float) and math.isnan(value):
        raise ToolError(f"value for column {column!r} is NaN, which SQLite cannot store or compare")
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ToolError(f"value for column {column!r} is not valid UTF-8 text") from None
    if not isinstance(value, str | int | float):
        expected = "text, a number or null" if nullable else "text or a number"
        raise ToolError(f"value for column {column!r} must be {expected}, got {type(value).__name__}")
    return value


def _jsonable(value: object) -> object:
    return value.hex() if isinstance(value, bytes) else value


class Database:
    """The three tools' work on one SQLite file (blocking calls; each opens its own connection).

    `trace_sql`, when given, receives the text of every statement run
    (``sqlite3.Connection.set_trace_callback``); tests use it to check templates.
    """

    def __init__(self, path: Path, tables: Mapping[str, Table], *, trace_sql: TraceSql | None = None) -> None:
        self.path = path.resolve()
        self.tables = dict(tables)
        self._read_only_uri = self.path.as_uri() + "?mode=ro"
        self._trace_sql = trace_sql

    @classmethod
    def open(cls, path: Path, seed: int, *, trace_sql: TraceSql | None = None) -> Database:
        """Open `path`, creating and seeding it when it has no tables; raises DatabaseFileError."""
        try:
            with closing(sqlite3.connect(path, timeout=BUSY_TIMEOUT_S)) as conn:
                if not conn.execute(_TABLES_SQL).fetchall():
                    seed_database(conn, seed)
                tables = read_schema(conn)
        except sqlite3.Error as exc:
            raise DatabaseFileError(f"cannot use {str(path)!r} as a SQLite database: {exc}") from None
        return cls(path, tables, trace_sql=trace_sql)

    def table(self, name: str) -> Table:
        """The allow-listed table called `name`; raises ToolError naming the known tables otherwise."""
        table = self.tables.get(name)
        if table is None:
            raise ToolError(f"unknown table {_shown(name)}; expected one of {', '.join(sorted(self.tables))}")
        return table

    def query(self, table: str, filters: Mapping[str, object], limit: int = DEFAULT_LIMIT) -> dict[str, Any]:
        """Rows of `table` equal to every filter, in key order, at most `limit` (clamped to 1..MAX_LIMIT)."""
        spec = self.table(table)
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise ToolError(f"limit must be an integer, got {limit!r}")
        limit = max(1, min(limit, MAX_LIMIT))
        where, params = self._equalities(spec, filters, " AND ", nullable=False)
        sql = (
            f"SELECT {', '.join(map(quote, spec.columns))} FROM {quote(spec.name)}"
            f"{' WHERE ' + where if where else ''} ORDER BY {', '.join(map(quote, spec.order_by))} LIMIT ?"
        )
        with closing(self._connect(read_only=True)) as conn:
            rows = self._execute(conn, spec, sql, [*params, limit]).fetchall()
        return {
            "table": spec.name,
            "rows": [
                {col: _jsonable(val) for col, val in zip(spec.columns, row, strict=True)} for row in rows
            ],
            "count": len(rows),
            "limit": limit,
        }

    def insert(self, table: str, row: Mapping[str, object]) -> dict[str, Any]:
        """Insert one row (missing columns take their defaults); returns its rowid."""
        spec = self.table(table)
        columns = [spec.column(name) for name in row]
        params = [_check_value(name, row[name], nullable=True) for name in columns]
        if columns:
            holes = ", ".join("?" for _ in columns)
            sql = f"INSERT INTO {quote(spec.name)} ({', '.join(map(quote, columns))}) VALUES ({holes})"
        else:
            sql = f"INSERT INTO {quote(spec.name)} DEFAULT VALUES"
        with closing(self._connect(read_only=False)) as conn, conn:
            cursor = self._execute(conn, spec, sql, params)
        return {"table": spec.name, "inserted": 1, "rowid": cursor.lastrowid}

    def update(
        self, table: str, values: Mapping[str, object], filters: Mapping[str, object]
    ) -> dict[str, Any]:
        """Set `values` on the rows equal to every filter; returns how many rows changed."""
        spec = self.table(table)
        if not values:
            raise ToolError("values must set at least one column")
        assignments, value_params = self._equalities(spec, values, ", ", nullable=True)
        if not filters:
            raise ToolError("filters must name at least one column; updating every row of a table is refused")
        where, filter_params = self._equalities(spec, filters, " AND ", nullable=False)
        sql = f"UPDATE {quote(spec.name)} SET {assignments} WHERE {where}"
        with closing(self._connect(read_only=False)) as conn, conn:
            cursor = self._execute(conn, spec, sql, [*value_params, *filter_params])
        return {"table": spec.name, "updated": cursor.rowcount}

    @staticmethod
    def _equalities(
        spec: Table, pairs: Mapping[str, object], separator: str, *, nullable: bool
    ) -> tuple[str, list[Value]]:
        columns = [spec.column(name) for name in pairs]
        params = [_check_value(name, pairs[name], nullable=nullable) for name in columns]
        return separator.join(f"{quote(name)} = ?" for name in columns), params

    def _connect(self, *, read_only: bool) -> sqlite3.Connection:
        if read_only:
            conn = sqlite3.connect(self._read_only_uri, uri=True, timeout=BUSY_TIMEOUT_S)
        else:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S)
        if self._trace_sql is not None:
            conn.set_trace_callback(self._trace_sql)
        conn.execute("PRAGMA query_only = ON" if read_only else "PRAGMA foreign_keys = ON")
        return conn

    @staticmethod
    def _execute(conn: sqlite3.Connection, spec: Table, sql: str, params: Sequence[Value]) -> sqlite3.Cursor:
        try:
            return conn.execute(sql, params)
        except sqlite3.IntegrityError as exc:
            raise ToolError(f"constraint failed in table {spec.name!r}: {exc}") from None
        except sqlite3.Error as exc:
            raise ToolError(f"database error on table {spec.name!r}: {exc}") from None


def build_database_server(
    seed: int,
    injector: FaultInjector | None,
    host: str = "127.0.0.1",
    port: int = 0,
    json_response: bool = True,
    *,
    db_path: Path | None = None,
    sleep: Sleep = asyncio.sleep,
    trace_sql: TraceSql | None = None,
) -> FastMCP:
    """Build (but do not start) the database server over `db_path`, or over a fresh seeded temp file.

    `host`/`port` are only used when the caller runs the server over HTTP.
    `sleep` serves injected delays (tests pass a recorder); `trace_sql` sees every statement run.
    Raises DatabaseFileError when `db_path` cannot be used as a SQLite database,
    and FaultConfigError when the injector's plan names a tool this server does not have.
    """
    if injector is not None:
        injector.plan.check_tool_names(TOOL_NAMES)
    owned: tempfile.TemporaryDirectory[str] | None = None
    if db_path is None:
        owned = tempfile.TemporaryDirectory(prefix="chaosbench-database-")
        db_path = Path(owned.name) / "chaosbench.sqlite3"
    database = Database.open(db_path, seed, trace_sql=trace_sql)
    # log_level WARNING: at INFO FastMCP logs a line for every request.
    mcp = FastMCP(SERVER_NAME, host=host, port=port, json_response=json_response, log_level="WARNING")
    if owned is not None:
        # The temporary database lives as long as the server: removed when it is collected or at exit.
        weakref.finalize(mcp, owned.cleanup)
    write_lock = asyncio.Lock()

    async def inject(tool: str) -> None:
        if injector is not None:
            await apply_decision(injector.decide(tool), sleep=sleep)

    @mcp.tool()
    async def query(
        table: str, filters: dict[str, str | int | float] | None = None, limit: int = DEFAULT_LIMIT
    ) -> dict[str, Any]:
        """Read rows of a table whose columns equal every filter value (read-only), at most limit (1-1000)."""
        await inject("query")
        return await asyncio.to_thread(database.query, table, filters or {}, limit)

    @mcp.tool()
    async def insert(table: str, row: dict[str, str | int | float | None]) -> dict[str, Any]:
        """Insert one row into a table, given as column -> value; returns the new rowid."""
        await inject("insert")
        async with write_lock:
            return await asyncio.to_thread(database.insert, table, row)

    @mcp.tool()
    async def update(
        table: str, values: dict[str, str | int | float | None], filters: dict[str, str | int | float]
    ) -> dict[str, Any]:
        """Set column values on the rows of a table whose columns equal every filter; returns the count."""
        await inject("update")
        async with write_lock:
            return await asyncio.to_thread(database.update, table, values, filters)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "server": SERVER_NAME, "tables": sorted(database.tables)})

    mcp.custom_route("/healthz", methods=["GET"])(healthz)
    return mcp
