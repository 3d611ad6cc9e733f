"""SIGINT/SIGTERM during a run: a flag the run checks, never an exception in the middle of a step."""

from __future__ import annotations

import signal
from types import FrameType
from typing import Any, TextIO

__all__ = ["Stopper"]


class Stopper:
    """Turns SIGINT/SIGTERM into :attr:`reason`, which the run checks; restores the handlers on exit.

    Installed before the run directory exists and kept until the report is written, so a
    signal at any moment stops the run through the same path. Once :attr:`finishing` is set
    (every process stopped), a signal only says that the report is being finished.
    """

    def __init__(self, stream: TextIO) -> None:
        self.reason: str | None = None
        self.finishing = False
        self._stream = stream
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Stopper:
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.finishing:
            print(f"\n{name}: the run is over; finishing its report", file=self._stream, flush=True)
        elif self.reason is None:
            self.reason = f"interrupted by {name}"
            print(
                f"\n{self.reason}: stopping the run and writing what was recorded...",
                file=self._stream,
                flush=True,
            )
