"""Import products into a catalog: choose the file, map its columns (with a preview), optionally a
file of co-purchase pairs, run with progress and Cancel, then read the report of what was skipped
and why."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QThreadPool, Signal
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel,
                               QLineEdit, QListWidget, QListWidgetItem, QProgressBar, QPushButton, QTableWidget,
                               QTableWidgetItem, QVBoxLayout)

from gui.workers import TaskWorker, show_progress, stop_busy

FIELDS = ("id", "title", "description", "brand", "price", "rating", "image")
NONE = "—"


def looks_like_category(values: list[str]) -> bool:
    """A column to offer as a filter: text that repeats (at most half as many distinct values as preview rows,
    e.g. gender, colour, article type), not numbers and not one value per product (ids, titles, prices)."""
    values = [v.strip() for v in values if v.strip()]
    return len(values) >= 4 and not all(_is_number(v) for v in values) and 2 * len(set(values)) <= len(values)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def run_import(catalog_path: str, source: str, image_root: str | None, mapping_kw: dict, pairs: str | None = None,
               *, emit, cancelled):
    """Worker task: import the products, then the co-purchase pairs (if a file is given and the import was not
    cancelled); returns (products report, pairs report or None, why the pairs were not imported or ""), or None
    when an import into a new catalog was cancelled before its first product (the catalog is deleted).
    The engine's indexes are updated on next open."""
    from core.catalog import Catalog
    from core.errors import AppError, Cancelled
    from core.ingest import ColumnMapping, ImportOptions, import_catalog, import_copurchases
    from core.progress import Progress, drain
    from core.spaces import spaces_for

    new = not Path(catalog_path).exists()
    catalog = Catalog.open(catalog_path, create=True)
    try:
        task = import_catalog(catalog, source, ColumnMapping(**mapping_kw), spaces_for(catalog),
                              ImportOptions(image_root=Path(image_root) if image_root else None), cancelled)
        report = drain(task, emit)
        if new and report.cancelled and not len(catalog) and catalog.discard_if_unused():
            return None  # cancelled before its first product: no empty catalog is left (nor opened by the window)
        if not pairs or report.cancelled:
            return report, None, ""
        emit(Progress(0, None, f"Importing the co-purchase pairs of {Path(pairs).name}…"))
        try:
            return report, import_copurchases(catalog, pairs, cancelled=cancelled), ""
        except Cancelled:  # the products are in: their report is shown, the pairs said not imported
            report.cancelled = True
            return report, None, "cancelled"
        except AppError as exc:  # the products are in: say so, and why the pairs are not
            return report, None, str(exc)
    except BaseException:
        if new:  # a catalog made for an import that failed before its first product (and no other process's)
            catalog.discard_if_unused()
        raise
    finally:
        catalog.close()


class ImportDialog(QDialog):
    imported = Signal(str)  # the catalog path, when an import finished

    def __init__(self, catalog_path: str | None = None, parent=None, pool: QThreadPool | None = None,
                 is_open: bool = False):
        """``is_open``: ``catalog_path`` is the catalog the window has open (not a new one's name)."""
        super().__init__(parent)
        self.setWindowTitle(self.tr("Import Products"))
        self.resize(900, 640)
        self.pool = pool or QThreadPool.globalInstance()
        self.worker: TaskWorker | None = None
        self.columns: list[str] = []
        self.source = QLineEdit(readOnly=True)
        browse = QPushButton(self.tr("Choose file…"))
        browse.clicked.connect(self.choose_source)
        self.images = QLineEdit(placeholderText=self.tr("default: the file's folder"))
        self.pairs = QLineEdit(readOnly=True, placeholderText=self.tr("optional: what was bought with what "
                                                                      "(two id columns, optional weight)"))
        browse_pairs = QPushButton(self.tr("Choose file…"))
        browse_pairs.clicked.connect(self.choose_pairs)
        clear_pairs = QPushButton(self.tr("None"))
        clear_pairs.clicked.connect(lambda: self.set_pairs(""))
        self.catalog = QLineEdit(catalog_path or "")
        self.opened = Path(catalog_path).expanduser().absolute() if catalog_path and is_open else None
        self.preview = QTableWidget()
        self.preview.setEditTriggers(QTableWidget.NoEditTriggers)
        self.preview.setMinimumWidth(200)  # a small dialog squeezed it to its row numbers
        self.maps = {f: QComboBox() for f in FIELDS}
        self.categories = QListWidget()  # tall and as wide as its longest name: each column seen without scrolling
        self.categories.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.fit_categories()
        self.categories.setToolTip(self.tr("Checked columns become filters of the catalog; the columns that look "
                                           "like categories are checked."))
        self.progress = QProgressBar()
        self.report = QLabel(wordWrap=True, textFormat=Qt.PlainText)
        self.skipped = QTableWidget(0, 3)
        self.skipped.setHorizontalHeaderLabels([self.tr("line"), self.tr("reason"), self.tr("detail")])
        self.skipped.horizontalHeader().setStretchLastSection(True)
        self.skipped.hide()  # shown when an import skipped rows
        self.buttons = QDialogButtonBox(QDialogButtonBox.Close)
        self.start_button = self.buttons.addButton(self.tr("Import"), QDialogButtonBox.AcceptRole)
        self.cancel_button = self.buttons.addButton(self.tr("Cancel import"), QDialogButtonBox.ActionRole)
        self.start_button.clicked.disconnect()
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.buttons.rejected.connect(self.reject)
        self.cancel_button.setEnabled(False)
        self.start_button.setEnabled(False)
        self.target = ""  # the catalog the running (or last) import writes
        # what cannot change while an import runs (it would not change what is imported, only what is said)
        self.inputs = [browse, self.images, browse_pairs, clear_pairs, self.catalog, *self.maps.values(),
                       self.categories]
        top = QFormLayout()
        row = QHBoxLayout()
        row.addWidget(self.source, 1)
        row.addWidget(browse)
        top.addRow(self.tr("Products file"), row)
        top.addRow(self.tr("Image folder"), self.images)
        pairs_row = QHBoxLayout()
        pairs_row.addWidget(self.pairs, 1)
        pairs_row.addWidget(browse_pairs)
        pairs_row.addWidget(clear_pairs)
        top.addRow(self.tr("Co-purchase pairs"), pairs_row)
        top.addRow(self.tr("Catalog file"), self.catalog)
        mapping = QFormLayout()
        for f, combo in self.maps.items():
            mapping.addRow(f, combo)
        filters = QVBoxLayout()
        filters.addWidget(QLabel(self.tr("Filter columns")))
        filters.addWidget(self.categories, 1)
        middle = QHBoxLayout()
        middle.addWidget(self.preview, 3)
        middle.addLayout(mapping, 2)
        middle.addLayout(filters)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(middle, 2)
        layout.addWidget(self.progress)
        layout.addWidget(self.report)
        layout.addWidget(self.skipped, 1)
        layout.addWidget(self.buttons)

    def choose_source(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, self.tr("Products file"), "",
                                              self.tr("Product lists (*.csv *.tsv *.txt *.jsonl *.ndjson)"))
        if path:
            self.load_source(path)

    def choose_pairs(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, self.tr("Co-purchase pairs"), "",
                                              self.tr("Pair lists (*.csv *.tsv *.txt *.jsonl *.ndjson)"))
        if path:
            self.set_pairs(path)

    def set_pairs(self, path: str) -> None:
        """The pairs file to import after the products ("" for none); a file that cannot be read is refused now."""
        from core.errors import AppError
        from core.sources import inspect_source

        if path:
            try:
                if len(inspect_source(path).columns) < 2:
                    raise AppError(self.tr("%s needs two id columns (a product and what was bought with it).")
                                   % Path(path).name)
            except AppError as exc:
                self.report.setText(str(exc))
                return
        self.pairs.setText(path)

    def load_source(self, path: str) -> None:
        from core.errors import AppError
        from core.ingest import ColumnMapping
        from core.sources import preview_rows

        try:
            info, rows = preview_rows(path, 30)
            sample = [r for r in rows if r.data]
        except AppError as exc:
            self.report.setText(str(exc))
            return
        self.source.setText(path)
        self.skipped.setRowCount(0)  # the report of the file before is not this one's
        self.skipped.hide()
        self.progress.reset()
        self.columns = list(info.columns)
        self.preview.setColumnCount(len(self.columns))
        self.preview.setHorizontalHeaderLabels(self.columns)
        self.preview.setRowCount(len(sample))
        for i, row in enumerate(sample):
            for j, col in enumerate(self.columns):
                self.preview.setItem(i, j, QTableWidgetItem(row.data.get(col, "")))
        try:
            guess = ColumnMapping.guess(self.columns)
        except AppError:  # no id-like column: the first stands in, the title, price and photo are still guessed
            guess = ColumnMapping.guess(self.columns, id=self.columns[0])
        for f, combo in self.maps.items():
            combo.clear()
            combo.addItems([NONE, *self.columns])
            combo.setCurrentText(getattr(guess, f) or NONE)
        self.categories.clear()
        mapped = {getattr(guess, f) for f in FIELDS}
        for col in self.columns:
            item = QListWidgetItem(col)
            item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
            category = col not in mapped and looks_like_category([str(r.data.get(col, "")) for r in sample])
            item.setCheckState(Qt.Checked if category else Qt.Unchecked)
            self.categories.addItem(item)
        self.fit_categories()
        if not self.catalog.text():
            self.catalog.setText(str(Path(path).with_suffix(".vitrina")))
        checked = len(self.mapping()["categories"])
        self.report.setText(self.tr("%d columns, %d of them checked as filter columns (they look like categories); "
                                    "check the mapping, then Import.") % (len(self.columns), checked)
                            if checked else self.tr("%d columns; check the mapping, then Import.") % len(self.columns))
        self.start_button.setEnabled(True)

    def fit_categories(self) -> None:
        """The filter columns' list as wide as its longest name (at most 240 px; a scroll bar's width spared)."""
        names = max(self.categories.sizeHintForColumn(0), 14 * self.categories.fontMetrics().averageCharWidth())
        self.categories.setFixedWidth(min(names + 2 * self.categories.frameWidth()
                                          + self.categories.verticalScrollBar().sizeHint().width(), 240))

    def mapping(self) -> dict:
        kw = {f: (c.currentText() if c.currentText() != NONE else None) for f, c in self.maps.items()}
        cats = [self.categories.item(i).text() for i in range(self.categories.count())
                if self.categories.item(i).checkState() == Qt.Checked]
        return {**kw, "categories": tuple(cats)}

    @property
    def running(self) -> bool:
        return self.cancel_button.isEnabled()

    def start(self) -> None:
        kw = self.mapping()
        if not kw["id"]:
            self.report.setText(self.tr("Choose which column holds the product id."))
            return
        if not self.catalog.text().strip():
            self.report.setText(self.tr("Choose the catalog file to import into (e.g. shop.vitrina)."))
            return
        images = self.images.text().strip()
        if images:  # a relative folder is beside the products file, as the catalog's name is (it was looked up
            # from wherever the application was started: an "images" folder there gave every product its photos)
            folder = Path(images).expanduser()
            if not folder.is_absolute():
                folder = Path(self.source.text().strip()).expanduser().absolute().parent / folder
            images = str(folder)
            self.images.setText(images)
        if images and not Path(images).is_dir():  # said now, before a catalog file is made for nothing
            self.report.setText(self.tr("The image folder %s is a file, not a folder.") % images
                                if Path(images).exists() else self.tr("The image folder %s does not exist.") % images)
            return
        # "~/shop.vitrina" made a folder named "~" in the working directory; a bare name lands beside the
        # products file, not wherever the application was started from
        target = Path(self.catalog.text().strip()).expanduser()
        if not target.is_absolute():
            target = Path(self.source.text().strip()).expanduser().absolute().parent / target
        self.catalog.setText(str(target))
        if not target.exists() and self.opened is not None and target == self.opened:
            # the window's catalog, gone: importing made a new, nearly empty one in its place, unsaid
            self.report.setText(self.tr("The catalog %s no longer exists (deleted, or its folder or drive moved). "
                                        "Type a new name to create a catalog, or File > Open Catalog.") % target)
            return
        if not target.parent.is_dir():  # a folder is not made for it (an unplugged drive's mount point was)
            self.report.setText(self.tr("The folder %s does not exist: choose a catalog in an existing folder.")
                                % target.parent)
            return
        self.target = str(target)
        self.progress.setRange(0, 0)
        self.skipped.setRowCount(0)
        self.skipped.hide()
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        for w in self.inputs:
            w.setEnabled(False)
        # a cancelled import still says what it imported and skipped (Cancel during the pairs lost that report)
        self.worker = TaskWorker(run_import, self.target, self.source.text(), images or None, kw,
                                 self.pairs.text() or None, streams=True, result_when_cancelled=True)
        self._reported = False
        self.worker.signals.progress.connect(self._progress)
        self.worker.signals.result.connect(self._done)
        self.worker.signals.error.connect(lambda msg, _tb: self._failed(msg))
        self.worker.signals.finished.connect(self._idle)
        self.pool.start(self.worker)

    def _idle(self) -> None:
        self.start_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        for w in self.inputs:
            w.setEnabled(True)
        stop_busy(self.progress)
        if self.worker is not None and self.worker.cancelled and not self._reported:
            if Path(self.target).is_file():
                self.report.setText(self.tr("Import cancelled: what was imported before stays in %s; importing "
                                            "the same file again goes on from there.") % Path(self.target).name)
                self.imported.emit(self.target)  # the window shows what is in the catalog now
            else:
                self.report.setText(self.tr("Import cancelled before anything was imported."))

    def cancel(self) -> None:
        if self.worker is not None and self.running:
            self.worker.cancel()
            self.report.setText(self.tr("Cancelling… what was imported so far is kept."))

    def reject(self) -> None:
        """Closing the dialog during an import cancels it (it would go on unseen, holding up the window's work)."""
        self.cancel()
        super().reject()

    def _progress(self, p) -> None:
        show_progress(self.progress, self.report, p)

    def _failed(self, message: str) -> None:
        self.report.setText(message)

    def _done(self, result) -> None:
        if result is None:  # cancelled before anything was imported: said when the task is over (_idle)
            return
        self._reported = True
        report, pairs, pairs_error = result
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        reasons = ", ".join(f"{n} {r}" for r, n in sorted(report.reasons().items(), key=lambda kv: -kv[1]))
        text = report.summary() + (f" — skipped: {reasons}" if reasons else "")
        rows = [(str(s.line), s.reason, s.detail) for s in report.skipped]
        rows += [(str(line), self.tr("note"), note if sku == "" else f"{sku}: {note}")
                 for line, sku, note in report.notes]
        if pairs is not None:
            summary = pairs.pairs_summary()
            text += "\n" + summary[0].upper() + summary[1:]
            name = Path(pairs.source).name
            rows += [(str(s.line), s.reason, f"{name}: {s.detail}") for s in pairs.skipped]
            rows += [(str(line), self.tr("note"), f"{name}: {note}") for line, _, note in pairs.notes]
        if pairs_error:
            text += "\n" + self.tr("Co-purchase pairs not imported: %s") % pairs_error
        if report.cancelled:
            text += "\n" + self.tr("What was imported stays in %s; importing the same file again goes on from "
                                   "there.") % Path(self.target).name
        self.report.setText(text)
        self.skipped.setRowCount(len(rows))
        for i, row in enumerate(rows):
            for j, v in enumerate(row):
                self.skipped.setItem(i, j, QTableWidgetItem(v))
        self.skipped.setVisible(bool(rows))
        self.imported.emit(self.target)
