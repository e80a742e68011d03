"""Progress of long tasks. Long operations are generators that yield :class:`Progress` and
return their result; the GUI wraps them in workers, the CLI in a progress bar."""
from __future__ import annotations

import math
import time
from collections.abc import Generator
from dataclasses import dataclass, replace
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


class TimeLeft:
    """Wraps a progress callback: the messages of a task that counts its steps say how long is left,
    from its pace so far ("about 3 min left"), once it has taken ``after`` seconds."""

    def __init__(self, on_progress, clock=time.monotonic, after: float = 10.0):
        self.on_progress, self.clock, self.after = on_progress, clock, after
        self.started: float | None = None

    def __call__(self, p: Progress) -> None:
        now = self.clock()
        if self.started is None:
            self.started = now
        spent = now - self.started
        if p.total and 0 < p.done < p.total and spent >= self.after:
            left = spent / p.done * (p.total - p.done)
            said = "less than a minute left" if left < 60 else f"about {math.ceil(left / 60)} min left"
            p = replace(p, message=f"{p.message} · {said}" if p.message else said)
        self.on_progress(p)
