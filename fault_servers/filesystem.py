"""The reference filesystem MCP server: UTF-8 text files under one root directory, behind a fault layer.

Tools (paths are relative to the root, components separated by ``/``):

- ``read_file(path)``: ``{"path", "content", "size_bytes"}`` of a UTF-8 text file.
- ``write_file(path, content)``: creates or replaces a file, and any missing parent
  directories; ``{"path", "size_bytes", "created"}``.
- ``list_files(path=".")``: ``{"path", "entries", "truncated"}``, entries sorted by
  name, each ``{"name", "type", "size_bytes"}`` with type ``file``, ``directory``,
  ``symlink`` or ``other`` (a symlink's target is never shown).

Confinement, in two layers. First the path is checked as text and resolved with
`os.path.realpath`: it is refused when it is absolute, longer than
MAX_PATH_CHARS, holds a NUL byte or a lone surrogate, or resolves (``..`` and
every symlink followed) outside the root. Then the resolved path is opened one
component at a time from a descriptor of the root with O_NOFOLLOW (O_DIRECTORY
on every parent), so a component swapped for a symlink between the check and
the open fails the call instead of escaping. Only regular files with one link
are read or written: a FIFO or device could block or have side effects, and a
hard link can share its inode with a file outside the root. Files above
`max_file_bytes` (1 MiB by default) are refused both ways. Every refusal is a
ToolError (``isError=True``) saying why.

Without a root the server makes a temporary directory, seeded by `seed_files`
from the seed, that is removed when the server is garbage-collected or the
process exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import random
import stat
import tempfile
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from mcp.server.fastmcp import FastMCP
from mcp.server.fastmcp.exceptions import ToolError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from fault_servers.errors import FaultServerError
from fault_servers.faults import FaultInjector, Sleep, apply_decision

SERVER_NAME: Final = "filesystem"
TOOL_NAMES: Final = frozenset({"read_file", "write_file", "list_files"})
MAX_FILE_BYTES: Final = 1024 * 1024
MAX_LIST_ENTRIES: Final = 1000
# Component-wise opening has no PATH_MAX, so without this a caller could build trees no other tool can reach.
MAX_PATH_CHARS: Final = 1024
_DIR_FLAGS: Final = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO must not wait for a peer; the fstat check refuses it right after.
_FILE_FLAGS: Final = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class FilesystemRootError(FaultServerError):
    """The root directory given to the filesystem server does not exist or is not a directory."""


def _shown(path: str) -> str:
    return repr(path if len(path) <= 120 else path[:120] + "...")


def seed_files(root: Path, seed: int) -> None:
    """Write the default files into `root`: the same seed always gives the same names and contents."""
    rng = random.Random(f"{seed}:filesystem")
    cities = ("Paris", "Oslo", "Lima", "Tokyo", "Nairobi")
    readings = "".join(f"{city},{round(rng.uniform(-10.0, 35.0), 1)}\n" for city in cities)
    files = {
        "README.txt": f"chaosbench filesystem server, seed {seed}.\n",
        "notes/todo.txt": "".join(f"- task {rng.randint(1, 999)}\n" for _ in range(3)),
        "data/readings.csv": "city,temperature_c\n" + readings,
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


class Sandbox:
    """Text file access confined to one directory, as the three tools need it (blocking calls).

    `root` must be an existing directory; it is resolved once, here. Every
    method raises ToolError with the reason when it refuses a path or fails.
    """

    def __init__(self, root: Path, max_file_bytes: int = MAX_FILE_BYTES) -> None:
        resolved = root.resolve()
        if not resolved.is_dir():
            raise FilesystemRootError(f"root {str(root)!r} is not an existing directory")
        self.root = resolved
        self.max_file_bytes = max_file_bytes

    def resolve(self, path: str) -> tuple[str, ...]:
        """The components of `path` below the root once symlinks and ``..`` are resolved; () is the root."""
        if "\x00" in path:
            raise ToolError(f"path {_shown(path)} contains a NUL byte")
        try:
            path.encode("utf-8")
        except UnicodeEncodeError:
            raise ToolError(f"path {_shown(path)} is not valid UTF-8 text") from None
        if len(path) > MAX_PATH_CHARS:
            raise ToolError(f"path is {len(path)} characters long; the limit is {MAX_PATH_CHARS}")
        if os.path.isabs(path):
            raise ToolError(f"path {_shown(path)} is absolute; give a path relative to the root")
        resolved = Path(os.path.realpath(self.root / path))
        if not resolved.is_relative_to(self.root):
            if os.path.normpath(path).split(os.sep)[0] == os.pardir:
                raise ToolError(f"path {_shown(path)} climbs out of the root with '..'")
            raise ToolError(f"path {_shown(path)} resolves outside the root through a symlink")
        return resolved.relative_to(self.root).parts

    def read(self, path: str) -> dict[str, Any]:
        """The text of the file at `path`."""
        parts = self._file_parts(path)
        try:
            fd = self._open_file(parts, os.O_RDONLY, create=False)
        except FileNotFoundError:
            raise ToolError(f"{_shown(_rel(parts))} does not exist") from None
        with os.fdopen(fd, "rb") as file:
            self._check_size(os.fstat(fd).st_size, parts)
            data = file.read(self.max_file_bytes + 1)
        self._check_size(len(data), parts)
        try:
            content = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ToolError(f"{_shown(_rel(parts))} is not UTF-8 text") from None
        return {"path": _rel(parts), "content": content, "size_bytes": len(data)}

    def write(self, path: str, content: str) -> dict[str, Any]:
        """Replace (or create) the file at `path` with `content`, creating missing parent directories."""
        try:
            data = content.encode("utf-8")
        except UnicodeEncodeError:
            raise ToolError("content is not valid UTF-8 text (it holds a lone surrogate)") from None
        if len(data) > self.max_file_bytes:
            raise ToolError(f"content is {len(data)} bytes; the limit is {self.max_file_bytes} bytes")
        parts = self._file_parts(path)
        created = False
        try:
            fd = self._open_file(parts, os.O_WRONLY, create=True)
        except FileNotFoundError:
            fd = self._open_file(parts, os.O_WRONLY | os.O_CREAT | os.O_EXCL, create=True)
            created = True
        with os.fdopen(fd, "wb") as file:
            file.truncate(0)
            file.write(data)
        return {"path": _rel(parts), "size_bytes": len(data), "created": created}

    def list_dir(self, path: str = ".") -> dict[str, Any]:
        """The entries of the directory at `path`, sorted by name, at most MAX_LIST_ENTRIES of them."""
        parts = self.resolve(path)
        fd = self._open_dir(parts, create=False)
        entries: list[dict[str, Any]] = []
        try:
            with os.scandir(fd) as scan:
                for entry in scan:
                    entries.append(_describe_entry(entry))
        finally:
            os.close(fd)
        entries.sort(key=lambda item: str(item["name"]))
        return {
            "path": _rel(parts),
            "entries": entries[:MAX_LIST_ENTRIES],
            "truncated": len(entries) > MAX_LIST_ENTRIES,
        }

    def _file_parts(self, path: str) -> tuple[str, ...]:
        parts = self.resolve(path)
        if not parts:
            raise ToolError(f"path {_shown(path)} is the root directory, not a file")
        return parts

    def _check_size(self, size_bytes: int, parts: Sequence[str]) -> None:
        if size_bytes > self.max_file_bytes:
            raise ToolError(
                f"{_shown(_rel(parts))} is larger than the limit of {self.max_file_bytes} bytes; refused"
            )

    def _open_dir(self, parts: Sequence[str], *, create: bool) -> int:
        """A descriptor of root/parts, opened a component at a time without following any symlink."""
        fd = os.open(self.root, _DIR_FLAGS)
        try:
            for depth, name in enumerate(parts):
                if create:
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(name, 0o755, dir_fd=fd)
                try:
                    child = os.open(name, _DIR_FLAGS, dir_fd=fd)
                except OSError as exc:
                    raise _refusal(exc, fd, parts[: depth + 1], want="a directory") from None
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _open_file(self, parts: Sequence[str], flags: int, *, create: bool) -> int:
        """A descriptor of the regular, singly linked file root/parts; FileNotFoundError when it is missing."""
        dir_fd = self._open_dir(parts[:-1], create=create)
        try:
            try:
                fd = os.open(parts[-1], flags | _FILE_FLAGS, 0o644, dir_fd=dir_fd)
            except FileNotFoundError:
                raise
            except OSError as exc:
                raise _refusal(exc, dir_fd, parts, want="a regular file") from None
        finally:
            os.close(dir_fd)
        try:
            info = os.fstat(fd)
            if stat.S_ISDIR(info.st_mode):
                raise ToolError(f"{_shown(_rel(parts))} is a directory, not a file")
            if not stat.S_ISREG(info.st_mode):
                raise ToolError(
                    f"{_shown(_rel(parts))} is not a regular file (a FIFO, socket or device); refused"
                )
            if info.st_nlink > 1:
                raise ToolError(
                    f"{_shown(_rel(parts))} has {info.st_nlink} hard links, and a hard link can alias a file "
                    "outside the root; refused"
                )
        except BaseException:
            os.close(fd)
            raise
        return fd


def _rel(parts: Sequence[str]) -> str:
    return "/".join(parts) or "."


def _refusal(exc: OSError, dir_fd: int, parts: Sequence[str], *, want: str) -> ToolError:
    """A ToolError explaining why opening the last of `parts` (inside `dir_fd`) failed."""
    where = _shown(_rel(parts))
    if exc.errno in (errno.ENOTDIR, errno.ELOOP, errno.EISDIR, errno.ENXIO):
        with contextlib.suppress(OSError):
            mode = os.stat(parts[-1], dir_fd=dir_fd, follow_symlinks=False).st_mode
            if stat.S_ISLNK(mode):
                return ToolError(
                    f"{where} is a symlink that is a loop or appeared after the path was checked"
                )
            if stat.S_ISDIR(mode):
                return ToolError(f"{where} is a directory, not {want}")
            if stat.S_ISREG(mode):
                return ToolError(f"{where} is a file, not {want}")
            return ToolError(f"{where} is a special file (a FIFO, socket or device), not {want}")
    if exc.errno == errno.ENOENT:
        return ToolError(f"{where} does not exist")
    if exc.errno == errno.ENAMETOOLONG:
        return ToolError(f"{where} has a name longer than the filesystem allows")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return ToolError(f"permission denied on {where}")
    return ToolError(f"cannot open {where}: {exc.strerror}")


def _describe_entry(entry: os.DirEntry[str]) -> dict[str, Any]:
    # Names that are not UTF-8 on disk come back with surrogate escapes, which JSON cannot carry.
    name = entry.name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    if entry.is_symlink():
        return {"name": name, "type": "symlink", "size_bytes": None}
    if entry.is_dir(follow_symlinks=False):
        return {"name": name, "type": "directory", "size_bytes": None}
    if entry.is_file(follow_symlinks=False):
        return {"name": name, "type": "file", "size_bytes": entry.stat(follow_symlinks=False).st_size}
    return {"name": name, "type": "other", "size_bytes": None}


def build_filesystem_server(
    seed: int,
    injector: FaultInjector | None,
    host: str = "127.0.0.1",
    port: int = 0,
    json_response: bool = True,
    *,
    root: Path | None = None,
    max_file_bytes: int = MAX_FILE_BYTES,
    sleep: Sleep = asyncio.sleep,
) -> FastMCP:
    """Build (but do not start) the filesystem server over `root`, or over a fresh seeded temp directory.

    `host`/`port` are only used when the caller runs the server over HTTP.
    `sleep` serves injected delays (tests pass a recorder).
    Raises FilesystemRootError when `root` is not an existing directory, and
    FaultConfigError when the injector's plan names a tool this server does not have.
    """
    if injector is not None:
        injector.plan.check_tool_names(TOOL_NAMES)
    owned: tempfile.TemporaryDirectory[str] | None = None
    if root is None:
        owned = tempfile.TemporaryDirectory(prefix="chaosbench-filesystem-")
        root = Path(owned.name)
        seed_files(root, seed)
    sandbox = Sandbox(root, max_file_bytes)
    # log_level WARNING: at INFO FastMCP logs a line for every request.
    mcp = FastMCP(SERVER_NAME, host=host, port=port, json_response=json_response, log_level="WARNING")
    if owned is not None:
        # The temporary root lives as long as the server: removed when it is collected or at exit.
        weakref.finalize(mcp, owned.cleanup)

    async def inject(tool: str) -> None:
        if injector is not None:
            await apply_decision(injector.decide(tool), sleep=sleep)

    @mcp.tool()
    async def read_file(path: str) -> dict[str, Any]:
        """Read a UTF-8 text file (at most 1 MiB) by its path relative to the server's root directory."""
        await inject("read_file")
        return await asyncio.to_thread(sandbox.read, path)

    @mcp.tool()
    async def write_file(path: str, content: str) -> dict[str, Any]:
        """Create or replace a text file (at most 1 MiB) at a path relative to the root; makes parent dirs."""
        await inject("write_file")
        return await asyncio.to_thread(sandbox.write, path, content)

    @mcp.tool()
    async def list_files(path: str = ".") -> dict[str, Any]:
        """List a directory relative to the root: name, type (file/directory/symlink/other), size in bytes."""
        await inject("list_files")
        return await asyncio.to_thread(sandbox.list_dir, path)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "server": SERVER_NAME})

    mcp.custom_route("/healthz", methods=["GET"])(healthz)
    return mcp
