"""The filesystem server: confinement to its root, size caps, the tools in-process, and faults."""

from __future__ import annotations

import asyncio
import gc
import hashlib
import os
import random
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
from fault_servers.filesystem import (
    MAX_LIST_ENTRIES,
    FilesystemRootError,
    Sandbox,
    build_filesystem_server,
    seed_files,
)

SECRET = "S3CR3T-0f5e9c-never-leaves-outside"


class RecordingSleep:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, delay_s: float) -> None:
        self.calls.append(delay_s)


def injector(*faults: ErrorFault | LatencyFault) -> FaultInjector:
    return FaultInjector(FaultPlan(faults=faults, source="test"), random.Random(0))


def make_layout(base: Path) -> tuple[Path, Path]:
    """A root full of traps next to an outside directory holding the secret; returns (root, outside)."""
    root, outside = base / "root", base / "outside"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET)
    (root / "file.txt").write_text("hello\n")
    (root / "sub" / "inner.txt").write_text("inner\n")
    (root / "link_out").symlink_to("../outside")
    (root / "link_secret").symlink_to("../outside/secret.txt")
    (root / "abs_link").symlink_to(outside)
    (root / "top").symlink_to("..")
    (root / "slash").symlink_to("/")
    (root / "sub" / "up").symlink_to("../..")
    (root / "alias").symlink_to("file.txt")
    (root / "loop").symlink_to("loop")
    os.link(outside / "secret.txt", root / "hard")
    os.mkfifo(root / "fifo")
    return root, outside


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Sandbox, Path]:
    root, outside = make_layout(tmp_path)
    return Sandbox(root), outside


def test_seed_files_are_the_same_for_the_same_seed_and_differ_between_seeds(tmp_path: Path) -> None:
    def contents(seed: int, name: str) -> dict[str, str]:
        seed_files(tmp_path / name, seed)
        base = tmp_path / name
        return {str(p.relative_to(base)): p.read_text() for p in sorted(base.rglob("*")) if p.is_file()}

    assert contents(1, "a") == contents(1, "b")
    assert contents(1, "a") != contents(2, "c")
    assert set(contents(1, "a")) == {"README.txt", "notes/todo.txt", "data/readings.csv"}


def test_a_root_that_is_not_a_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")

    with pytest.raises(FilesystemRootError, match="is not an existing directory"):
        Sandbox(tmp_path / "file")
    with pytest.raises(FilesystemRootError, match="is not an existing directory"):
        build_filesystem_server(0, None, root=tmp_path / "missing")


def test_files_inside_the_root_are_read_written_and_listed(layout: tuple[Sandbox, Path]) -> None:
    sandbox, _ = layout

    written = sandbox.write("new/deep/note.txt", "héllo")
    rewritten = sandbox.write("new/deep/note.txt", "hi")
    read = sandbox.read("new/./deep/../deep/note.txt")
    listing = sandbox.list_dir("new")

    assert written == {"path": "new/deep/note.txt", "size_bytes": 6, "created": True}
    assert rewritten == {"path": "new/deep/note.txt", "size_bytes": 2, "created": False}
    assert read == {"path": "new/deep/note.txt", "content": "hi", "size_bytes": 2}
    assert listing["entries"] == [{"name": "deep", "type": "directory", "size_bytes": None}]


def test_a_symlink_that_stays_inside_the_root_is_followed(layout: tuple[Sandbox, Path]) -> None:
    sandbox, _ = layout

    assert sandbox.read("alias")["content"] == "hello\n"
    assert sandbox.read("sub/up/root/file.txt")["path"] == "file.txt"


def test_the_listing_is_sorted_typed_and_never_shows_symlink_targets(layout: tuple[Sandbox, Path]) -> None:
    sandbox, _ = layout

    entries = {entry["name"]: entry["type"] for entry in sandbox.list_dir(".")["entries"]}

    assert list(entries) == sorted(entries)
    assert entries["file.txt"] == "file"
    assert entries["sub"] == "directory"
    assert entries["link_out"] == "symlink"
    assert entries["fifo"] == "other"
    assert "outside" not in str(sandbox.list_dir("."))


def test_a_listing_stops_at_the_entry_limit_and_says_so(tmp_path: Path) -> None:
    for i in range(MAX_LIST_ENTRIES + 1):
        (tmp_path / f"f{i:05d}").touch()

    listing = Sandbox(tmp_path).list_dir()

    assert len(listing["entries"]) == MAX_LIST_ENTRIES
    assert listing["truncated"] is True


@pytest.mark.parametrize(
    ("tool", "path", "reason"),
    [
        ("read", "../outside/secret.txt", "path '../outside/secret.txt' climbs out of the root with '..'"),
        ("read", "sub/../../outside/secret.txt", "climbs out of the root with '..'"),
        ("read", "/etc/passwd", "path '/etc/passwd' is absolute; give a path relative to the root"),
        ("read", "file.txt\x00.png", "contains a NUL byte"),
        ("read", "\ud800", "is not valid UTF-8 text"),
        ("read", "link_secret", "path 'link_secret' resolves outside the root through a symlink"),
        ("read", "link_out/secret.txt", "resolves outside the root through a symlink"),
        ("read", "abs_link/secret.txt", "resolves outside the root through a symlink"),
        ("read", "sub/up/outside/secret.txt", "resolves outside the root through a symlink"),
        ("read", "top/outside/secret.txt", "resolves outside the root through a symlink"),
        ("read", "slash/etc/passwd", "resolves outside the root through a symlink"),
        ("read", "hard", "'hard' has 2 hard links, and a hard link can alias a file outside the root"),
        ("read", "fifo", "'fifo' is not a regular file (a FIFO, socket or device); refused"),
        ("read", "fifo/x", "'fifo' is a special file (a FIFO, socket or device), not a directory"),
        ("read", "file.txt/x", "'file.txt' is a file, not a directory"),
        ("read", "loop", "'loop' is a symlink that is a loop or appeared after the path was checked"),
        ("read", "sub", "'sub' is a directory, not a file"),
        ("read", "", "path '' is the root directory, not a file"),
        ("read", "missing.txt", "'missing.txt' does not exist"),
        ("read", "a" * 300, "has a name longer than the filesystem allows"),
        ("write", "a/" * 600, "path is 1200 characters long; the limit is 1024"),
        ("write", "../escape.txt", "climbs out of the root with '..'"),
        ("write", "link_out/new.txt", "resolves outside the root through a symlink"),
        ("write", "hard", "has 2 hard links"),
        ("write", "fifo", "'fifo' is a special file (a FIFO, socket or device), not a regular file"),
        ("write", "sub", "'sub' is a directory, not a regular file"),
        ("list", "link_out", "resolves outside the root through a symlink"),
        ("list", "file.txt", "'file.txt' is a file, not a directory"),
        ("list", "../", "climbs out of the root with '..'"),
    ],
)
def test_unsafe_paths_are_refused_saying_why(
    layout: tuple[Sandbox, Path], tool: str, path: str, reason: str
) -> None:
    sandbox, outside = layout

    with pytest.raises(ToolError) as refused:
        if tool == "read":
            sandbox.read(path)
        elif tool == "write":
            sandbox.write(path, "overwritten")
        else:
            sandbox.list_dir(path)

    assert reason in str(refused.value)
    assert SECRET not in str(refused.value)
    assert (outside / "secret.txt").read_text() == SECRET
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]


def test_reads_and_writes_above_the_size_limit_are_refused(tmp_path: Path) -> None:
    (tmp_path / "big.txt").write_text("x" * 17)
    sandbox = Sandbox(tmp_path, max_file_bytes=16)

    with pytest.raises(ToolError, match=r"'big\.txt' is larger than the limit of 16 bytes; refused"):
        sandbox.read("big.txt")
    with pytest.raises(ToolError, match="content is 17 bytes; the limit is 16 bytes"):
        sandbox.write("new.txt", "y" * 17)
    assert not (tmp_path / "new.txt").exists()
    assert sandbox.write("ok.txt", "y" * 16)["size_bytes"] == 16
    assert sandbox.write("big.txt", "small")["size_bytes"] == 5


def test_a_file_that_is_not_utf8_and_content_with_a_lone_surrogate_are_refused(tmp_path: Path) -> None:
    (tmp_path / "binary.bin").write_bytes(b"\xff\xfe\x00")
    sandbox = Sandbox(tmp_path)

    with pytest.raises(ToolError, match=r"'binary\.bin' is not UTF-8 text"):
        sandbox.read("binary.bin")
    with pytest.raises(ToolError, match="content is not valid UTF-8 text"):
        sandbox.write("x.txt", "\udc80")


def swap_during_resolve(monkeypatch: pytest.MonkeyPatch, swap: Any) -> None:
    """Make `swap()` run right after the path is resolved and checked: the race O_NOFOLLOW guards."""
    realpath = os.path.realpath

    def racing_realpath(path: Any) -> str:
        resolved: str = realpath(path)
        swap()
        return resolved

    monkeypatch.setattr("fault_servers.filesystem.os.path.realpath", racing_realpath)


def test_a_parent_directory_swapped_for_a_symlink_after_the_check_is_not_followed(
    layout: tuple[Sandbox, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox, outside = layout
    (outside / "inner.txt").write_text(SECRET)
    sub = sandbox.root / "sub"

    def swap() -> None:
        sub.rename(sandbox.root / "sub.moved")
        sub.symlink_to(outside)

    swap_during_resolve(monkeypatch, swap)
    with pytest.raises(ToolError, match="'sub' is a symlink that is a loop or appeared after"):
        sandbox.read("sub/inner.txt")


def test_a_file_swapped_for_a_symlink_after_the_check_is_not_followed(
    layout: tuple[Sandbox, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox, outside = layout
    target = sandbox.root / "file.txt"

    def swap() -> None:
        target.unlink()
        target.symlink_to(outside / "secret.txt")

    swap_during_resolve(monkeypatch, swap)
    with pytest.raises(ToolError, match=r"'file\.txt' is a symlink"):
        sandbox.write("file.txt", "clobbered")
    assert (outside / "secret.txt").read_text() == SECRET


def snapshot(base: Path, skip: Path) -> dict[str, tuple[str, ...]]:
    """Every path under `base` but `skip`, with its kind, link target or content hash and mtime."""
    state: dict[str, tuple[str, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(base):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            if path == skip:
                continue
            info = path.lstat()
            if path.is_symlink():
                state[str(path)] = ("link", os.readlink(path))
            elif path.is_file():
                state[str(path)] = (
                    "file",
                    hashlib.sha256(path.read_bytes()).hexdigest(),
                    str(info.st_mtime_ns),
                )
            else:
                state[str(path)] = ("other", str(info.st_mode), str(info.st_mtime_ns))
        dirnames[:] = [d for d in dirnames if Path(dirpath, d) != skip]
    return state


TRAPS = [
    "..",
    ".",
    "",
    "link_out",
    "link_secret",
    "abs_link",
    "top",
    "slash",
    "sub",
    "up",
    "fifo",
    "hard",
    "secret.txt",
    "outside",
    "root",
    "file.txt",
    "alias",
    "loop",
    "%2e%2e",
    "%2e%2e%2f",
    "..\\..",
    "\\",
    "..%00",
    "\x00",
    "\ud800",
    "é",
    "ｅｔｃ",
    "\u202e",
    "~",
    "a" * 300,
    "new",
    "..\u2215..",
]
PATHS = st.one_of(
    st.builds(
        lambda prefix, parts: prefix + "/".join(parts),
        st.sampled_from(["", "/", "//", "./", "../", "\\", "C:\\"]),
        st.lists(st.one_of(st.sampled_from(TRAPS), st.text(max_size=12)), max_size=8),
    ),
    st.sampled_from(["../" * 40 + "etc/passwd", "a/" * 2100, "sub/up/outside/secret.txt"]),
)


def test_generated_traversal_attempts_never_read_or_write_outside_the_root(tmp_path: Path) -> None:
    root, outside = make_layout(tmp_path)
    (root / "slash").unlink()  # writes through "/" could not be seen by the snapshot; covered above
    server = build_filesystem_server(0, None, root=root)
    before = snapshot(tmp_path, skip=root)

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(tool=st.sampled_from(["read_file", "write_file", "list_files"]), path=PATHS)
    def attempt(tool: str, path: str) -> None:
        arguments = (
            {"path": path, "content": "written by hypothesis"} if tool == "write_file" else {"path": path}
        )
        try:
            result: Any = asyncio.run(server.call_tool(tool, arguments))
        except ToolError as exc:
            result = exc
        assert SECRET not in str(result)
        assert snapshot(tmp_path, skip=root) == before
        if tool == "write_file" and not isinstance(result, ToolError):
            assert (root / result[1]["path"]).read_text() == "written by hypothesis"

    attempt()
    assert (outside / "secret.txt").read_text() == SECRET


def text_of(result: Any) -> str:
    content = result.content[0]
    assert isinstance(content, TextContent)
    return str(content.text)


async def test_the_server_serves_the_three_tools_over_an_in_memory_session(tmp_path: Path) -> None:
    root, _ = make_layout(tmp_path)
    server = build_filesystem_server(0, None, root=root)

    async with create_connected_server_and_client_session(server) as client:
        with anyio.fail_after(10):
            tools = await client.list_tools()
            written = await client.call_tool("write_file", {"path": "a/b.txt", "content": "x"})
            read = await client.call_tool("read_file", {"path": "a/b.txt"})
            escaped = await client.call_tool("read_file", {"path": "../outside/secret.txt"})

    assert {tool.name for tool in tools.tools} == {"read_file", "write_file", "list_files"}
    assert not written.isError
    assert read.structuredContent == {"path": "a/b.txt", "content": "x", "size_bytes": 1}
    assert escaped.isError
    assert text_of(escaped) == (
        "Error executing tool read_file: path '../outside/secret.txt' climbs out of the root with '..'"
    )


def test_without_a_root_the_server_seeds_a_temporary_root_and_removes_it_when_collected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    server: FastMCP | None = build_filesystem_server(7, None)
    assert server is not None
    _, readme = asyncio.run(server.call_tool("read_file", {"path": "README.txt"}))
    assert isinstance(readme, dict)
    assert "seed 7" in readme["content"]
    assert len(list(tmp_path.iterdir())) == 1

    server = None
    gc.collect()

    assert list(tmp_path.iterdir()) == []


async def test_an_injected_error_fails_only_the_targeted_tool(tmp_path: Path) -> None:
    server = build_filesystem_server(
        0, injector(ErrorFault(message="disk on fire", tools=("write_file",))), root=tmp_path
    )

    async with create_connected_server_and_client_session(server) as client:
        with anyio.fail_after(10):
            failed = await client.call_tool("write_file", {"path": "x.txt", "content": "x"})
            listed = await client.call_tool("list_files", {})

    assert failed.isError
    assert text_of(failed) == "Error executing tool write_file: disk on fire"
    assert not (tmp_path / "x.txt").exists()
    assert not listed.isError


async def test_an_injected_delay_is_served_through_the_injected_sleep(tmp_path: Path) -> None:
    sleep = RecordingSleep()
    server = build_filesystem_server(
        0, injector(LatencyFault(min_s=0.25, max_s=0.25)), root=tmp_path, sleep=sleep
    )

    await server.call_tool("list_files", {"path": "."})

    assert sleep.calls == [0.25]


def test_a_fault_plan_naming_an_unknown_tool_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FaultConfigError, match=r"faults\[0\]\.tools\[0\]: unknown tool 'get_forecast'"):
        build_filesystem_server(0, injector(ErrorFault(tools=("get_forecast",))), root=tmp_path)


async def test_the_health_route_answers_ok(tmp_path: Path) -> None:
    app = build_filesystem_server(0, None, root=tmp_path).streamable_http_app()

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as http:
        with anyio.fail_after(10):
            response = await http.get("/healthz")

    assert response.json() == {"status": "ok", "server": "filesystem"}


def test_the_cli_refuses_a_root_that_is_not_a_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "filesystem", "--root", str(tmp_path / "missing")]) == 2
    assert "is not an existing directory" in capsys.readouterr().err


def test_the_cli_refuses_root_for_a_server_other_than_filesystem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "weather", "--root", str(tmp_path)]) == 2
    assert "--root applies only to the filesystem server, not 'weather'" in capsys.readouterr().err
