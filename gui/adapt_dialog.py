"""Adapt the vision transformer to the open catalog: progress, Cancel, and both scores at the end."""
from __future__ import annotations

from PySide6.QtCore import Qt, QThreadPool, Signal
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QProgressBar, QVBoxLayout

from gui import backend
from gui.workers import TaskWorker, show_progress, stop_busy


class AdaptDialog(QDialog):
    adapted = Signal(bool)  # True when the new model was kept

    def __init__(self, engine, pool: QThreadPool, parent=None):
        super().__init__(parent)
        self.setWindowTitle(self.tr("Adapt the Model to This Catalog"))
        self.engine, self.pool = engine, pool
        self.text = QLabel(self.tr(
            "Fine-tunes Vitrina's vision transformer on this catalog's photos and titles. The new model "
            "replaces the current one only if it finds products from their titles better on a held-out "
            "slice of the catalog.\n\nIt can take several minutes on a laptop, the longer the more photos the catalog "
            "has; the bar shows how far it has got and the time left. Closing this window stops it."), wordWrap=True)
        self.progress = QProgressBar()
        self.status = QLabel(textFormat=Qt.PlainText, wordWrap=True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.Close)
        self.start_button = self.buttons.addButton(self.tr("Start"), QDialogButtonBox.ActionRole)
        self.start_button.setDefault(True)  # Enter starts (the focus was on Close: Enter closed the dialog)
        self.cancel_button = self.buttons.addButton(self.tr("Cancel training"), QDialogButtonBox.ActionRole)
        self.cancel_button.setEnabled(False)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        for w in (self.text, self.progress, self.status):
            layout.addWidget(w)
        layout.addStretch(1)
        layout.addWidget(self.buttons)
        self.setMinimumSize(520, 260)  # the text readable at once, room for the scores at the end
        self.start_button.setFocus()
        self.worker: TaskWorker | None = None

    def start(self) -> None:
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setRange(0, 0)
        self.worker = TaskWorker(backend.adapt, self.engine, streams=True)
        self.worker.signals.progress.connect(self._progress)
        self.worker.signals.result.connect(self._done)
        self.worker.signals.error.connect(lambda msg, _tb: self.status.setText(msg))
        self.worker.signals.finished.connect(self._idle)
        self.pool.start(self.worker)

    def cancel(self) -> None:
        if self.worker and self.cancel_button.isEnabled():
            self.worker.cancel()
            self.status.setText(self.tr("Cancelling… the current model stays."))

    def reject(self) -> None:
        """Closing the dialog stops the training (it would go on unseen, holding up the window's searches)."""
        self.cancel()
        super().reject()

    def _progress(self, p) -> None:
        if self.worker is not None and self.worker.cancelled:  # an epoch's line after Cancel read as going on
            return
        show_progress(self.progress, self.status, p)

    def _idle(self) -> None:
        self.cancel_button.setEnabled(False)
        self.start_button.setEnabled(True)
        stop_busy(self.progress)
        if self.worker is not None and self.worker.cancelled:  # it said "Cancelling…" for good
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
            self.status.setText(self.tr("Cancelled: the current model stays."))

    def _done(self, result) -> None:
        verdict = self.tr("The adapted model is better and is now used; the catalog will be re-embedded.") \
            if result.kept else self.tr("The current model stays: the adapted one was not better.")
        self.status.setText(self.tr("Finding a product from its title (recall@%d on %d held-out products): "
                                    "current %.3f, adapted %.3f.\n%s") % (result.k, result.held_out, result.before,
                                                                           result.after, verdict))
        self.adapted.emit(result.kept)
