"""Learn "Goes with" from the catalog's co-purchase pairs: which column names a design, progress with
the time left, Cancel, and what was learned. Not modal: the catalog can be browsed meanwhile, and
closing the dialog leaves the learning running (File > Learn "Goes with" shows it again). It learns on
a thread and a catalog connection of its own (SQLite's WAL lets both read), so that searches do not
wait behind it."""
from __future__ import annotations

import time
from datetime import datetime

from PySide6.QtCore import Qt, QThreadPool, Signal
from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QProgressBar, QVBoxLayout

from gui import backend
from gui.workers import TaskWorker, show_progress, stop_busy


class GoesWithDialog(QDialog):
    learned = Signal(object)  # the saved model
    percent = Signal(int)  # how far the learning is, 0..100; -1 once it has stopped
    failed = Signal(str)  # why the learning stopped (the window says it when the dialog is closed)

    def __init__(self, engine, parent=None):
        from core.complement_model import model_path
        from core.complement_splits import design_column, variant_columns

        super().__init__(parent)
        self.setWindowTitle(self.tr("Learn \"Goes with\" · %s") % engine.catalog.name)
        self.engine = engine
        self.pool = QThreadPool(self)  # its own thread: the window's serves browsing meanwhile
        self.pool.setMaxThreadCount(1)
        cat = engine.catalog
        pairs = cat.copurchase_count()
        self.text = QLabel(self.tr(
            "Learns from this catalog's %s co-purchase pairs which products go with which, so that "
            "\"Goes with\" also suggests complements for products that have no pairs yet (new products). "
            "On a catalog of 12,000 products this takes a few minutes; you can go on browsing.")
            % f"{pairs:,}", wordWrap=True)
        self.design = QComboBox()
        self.design.addItem(self.tr("(none: every product is a design of its own)"), None)
        columns = variant_columns(cat)  # not a brand's or a section's: those group far more products
        for key in columns:
            self.design.addItem(key, key)
        found = design_column(cat, columns)
        if found is not None:
            self.design.setCurrentIndex(self.design.findData(found))
        self.design.setToolTip(self.tr(
            "Products that share this value (the same design in other colours or sizes) are kept together "
            "while learning, so that it learns what goes with a new design, not with a new colour of a "
            "known one."))
        form = QFormLayout()
        form.addRow(self.tr("Variants of one design share:"), self.design)
        path = model_path(cat)
        self.current = QLabel(wordWrap=True)
        if path.exists():
            when = datetime.fromtimestamp(path.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
            self.current.setText(self.tr("The model learned on %s is used until the new one is learned.") % when)
        self.progress = QProgressBar()
        self.status = QLabel(textFormat=Qt.PlainText, wordWrap=True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.Close)
        self.start_button = self.buttons.addButton(self.tr("Start"), QDialogButtonBox.ActionRole)
        self.start_button.setDefault(True)  # Enter starts (it closed the dialog)
        self.cancel_button = self.buttons.addButton(self.tr("Cancel Learning"), QDialogButtonBox.ActionRole)
        self.cancel_button.setEnabled(False)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        # its wrapped lines at the narrowest width: a wrapped label does not grow its dialog (it was cut off, and
        # overlapped the row below, at the dialog's minimum size)
        self.text.setMinimumHeight(self.text.heightForWidth(560 - 2 * layout.contentsMargins().left()))
        layout.addLayout(form)
        for w in (self.current, self.progress, self.status, self.buttons):
            layout.addWidget(w)
        # room for three lines of status from the start: a wrapped label does not grow its dialog
        self.status.setMinimumHeight(3 * self.status.fontMetrics().lineSpacing())
        self.setMinimumWidth(560)
        self.start_button.setFocus()
        self.worker: TaskWorker | None = None
        self._started = 0.0

    @property
    def running(self) -> bool:
        return self.worker is not None

    def start(self) -> None:
        self.start_button.setEnabled(False)
        self.design.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setRange(0, 0)
        self._started = time.monotonic()
        self.worker = TaskWorker(backend.train_goes_with, self.engine, self.design.currentData(), streams=True)
        self.worker.signals.progress.connect(self._progress)
        self.worker.signals.result.connect(self._done)
        self.worker.signals.error.connect(self._failed)
        self.worker.signals.finished.connect(self._idle)
        self.pool.start(self.worker)

    def _failed(self, message: str) -> None:
        self.status.setText(message)
        self.failed.emit(message)

    def _progress(self, p) -> None:
        show_progress(self.progress, self.status, p)
        if p.total:
            self.percent.emit(100 * p.done // p.total)

    def cancel(self) -> None:
        if self.worker:
            self.worker.cancel()
            self.status.setText(self.tr("Cancelling… the model learned before (if any) stays."))

    def _idle(self) -> None:
        if self.worker is not None and self.worker.cancelled:
            self.status.setText(self.tr("Cancelled: nothing was saved; the model learned before (if any) stays."))
        self.worker = None
        self.cancel_button.setEnabled(False)
        self.start_button.setEnabled(True)
        self.design.setEnabled(True)
        stop_busy(self.progress)
        self.percent.emit(-1)

    def _done(self, model) -> None:  # not called when cancelled: the worker emits no result then
        minutes, seconds = divmod(round(time.monotonic() - self._started), 60)
        info = model.info
        self.status.setText(self.tr(
            "Learned from %s co-purchase pairs in %d min %02d s. \"Goes with\" now suggests complements for "
            "every product.") % (f"{info['pairs']:,}", minutes, seconds))
        self.status.setToolTip(  # "held-out" only of pairs its first stage did not learn from
            self.tr("Ranker: %s, fitted on the pairs of training products, which its first stage learned from too.")
            % info["ranker"] if info["ranker_fit_on"] == "training" else
            self.tr("Ranker: %s, fitted on the held-out pairs of %s products.") % (info["ranker"], info["ranker_fit_on"]))
        self.current.setText("")
        self.learned.emit(model)
