"""Progress of long tasks. Long operations are generators that yield :class:`Progress` and
return their result; the GUI wraps them in workers, the CLI in a progress bar."""
from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Progress:
    done: int
    total: int | None
    message: str = ""


def drain(task: Generator[Progress, None, T], on_progress=lambda p: None) -> T:
    """Run a task generator to the end, handing each Progress to ``on_progress``; returns its result."""
    while True:
        try:
            on_progress(next(task))
        except StopIteration as stop:
            return stop.value
