"""Long tasks off the GUI thread: a generator function run on the global QThreadPool.

The task yields ``core.progress.Progress`` (or anything) and returns its result; the worker
re-emits them as Qt signals and checks the cancel flag between steps, so every long task gets
progress and Cancel for free.
"""
from __future__ import annotations

import traceback
from collections.abc import Callable, Generator

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal
from shiboken6 import isValid

from core.errors import AppError, user_message


class WorkerSignals(QObject):
    progress = Signal(object)
    result = Signal(object)
    error = Signal(str, str)  # message for people, traceback
    finished = Signal()


class TaskWorker(QRunnable):
    """``streams=True``: the task takes ``emit`` (progress callback) and ``cancelled`` keywords
    instead of being a generator (for callback-style work such as token streaming).
    ``result_when_cancelled``: what a cancelled task returns is still sent (e.g. an import's partial report)."""

    def __init__(self, task: Callable[..., Generator | object], *args, streams: bool = False,
                 result_when_cancelled: bool = False, **kwargs):
        super().__init__()
        self.result_when_cancelled = result_when_cancelled
        self.task, self.args, self.kwargs = task, args, kwargs
        if streams:
            self.kwargs.update(emit=lambda item: self._emit("progress", item), cancelled=lambda: self._cancelled)
        self.signals = WorkerSignals()
        self._cancelled = False
        self.started = False  # its pool has begun to run it (False: queued behind other work)
        self.setAutoDelete(False)

    def cancel(self) -> None:
        self._cancelled = True

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def run(self) -> None:
        self.started = True
        try:
            if self._cancelled:  # cancelled while still queued: do nothing at all
                return
            out = self.task(*self.args, **self.kwargs)
            if isinstance(out, Generator):
                out = self._drive(out)
            if not self._cancelled or self.result_when_cancelled:
                self._emit("result", out)
        except Exception as exc:  # shown to the user; the AppError message says what to do (and needs no
            # traceback under "Show Details…": that is for a fault to report, not for an input the user can fix)
            self._emit("error", user_message(exc), "" if isinstance(exc, AppError) else traceback.format_exc())
        finally:
            self._emit("finished")

    def _emit(self, name: str, *args) -> None:
        """Sends a signal unless the window is gone: at Quit, Qt deletes the signals of a task still running, and
        emitting on them raised into the crash hook, from this thread."""
        if not isValid(self.signals):
            self._cancelled = True  # nobody listens: the task stops at its next check
            return
        try:
            getattr(self.signals, name).emit(*args)
        except RuntimeError:  # deleted between the check and the emit
            if isValid(self.signals):
                raise
            self._cancelled = True

    def _drive(self, gen: Generator):
        try:
            while True:
                if self._cancelled:
                    gen.close()
                    return None
                self._emit("progress", next(gen))
        except StopIteration as stop:
            return stop.value


def start(worker: TaskWorker, pool: QThreadPool | None = None) -> TaskWorker:
    (pool or QThreadPool.globalInstance()).start(worker)
    return worker


def show_progress(bar, label, p) -> None:
    """Shows a Progress on a progress bar (busy when the total is unknown) and a label."""
    if p.total:
        bar.setRange(0, p.total)
        bar.setValue(p.done)
    label.setText(p.message)


def stop_busy(bar) -> None:
    """A bar left in busy mode (range 0..0) by a task that ended becomes an empty, idle bar."""
    if bar.maximum() == 0:
        bar.setRange(0, 1)
