"""The main window (a first version: query bar and results grid; panels grow with the GUI issue)."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, Slot
from PySide6.QtWidgets import (QFileDialog, QHBoxLayout, QLabel, QLineEdit, QListView, QMainWindow, QMessageBox,
                               QProgressBar, QPushButton, QSlider, QVBoxLayout, QWidget)

from gui import backend
from gui.results_model import ResultsModel
from gui.thumbnail_delegate import ThumbnailDelegate
from gui.workers import TaskWorker, start


class MainWindow(QMainWindow):
    def __init__(self, catalog_path: Path, demo: bool):
        super().__init__()
        self.setWindowTitle(self.tr("Vitrina"))
        self.resize(1180, 760)
        self.engine = None
        self.image_path: str | None = None
        self._workers: set[TaskWorker] = set()

        self.query = QLineEdit(placeholderText=self.tr("Describe a product, e.g. “red summer dress”"))
        self.query.returnPressed.connect(self.search)
        self.image_button = QPushButton(self.tr("Image…"))
        self.image_button.clicked.connect(self.choose_image)
        self.weight = QSlider(Qt.Horizontal, minimum=0, maximum=100, value=50)
        self.weight.setToolTip(self.tr("Text ↔ image weight"))
        self.weight.setFixedWidth(120)
        self.search_button = QPushButton(self.tr("Search"))
        self.search_button.clicked.connect(self.search)
        bar = QHBoxLayout()
        for w in (self.query, self.image_button, QLabel(self.tr("text")), self.weight, QLabel(self.tr("image")),
                  self.search_button):
            bar.addWidget(w)
        self.image_label = QLabel()
        self.model = ResultsModel(self)
        self.results = QListView(viewMode=QListView.IconMode, resizeMode=QListView.Adjust, movement=QListView.Static,
                                 uniformItemSizes=True, spacing=4)
        self.results.setModel(self.model)
        self.results.setItemDelegate(ThumbnailDelegate(self.results))
        self.results.setIconSize(QSize(150, 150))
        layout = QVBoxLayout()
        layout.addLayout(bar)
        layout.addWidget(self.image_label)
        layout.addWidget(self.results)
        central = QWidget()
        central.setLayout(layout)
        self.setCentralWidget(central)
        self.busy = QProgressBar(maximum=0, maximumWidth=160)
        self.statusBar().addPermanentWidget(self.busy)
        self._set_ready(False)
        self._run(backend.open_catalog, catalog_path, demo, on_result=self._catalog_opened)

    def _run(self, task, *args, on_result):
        worker = TaskWorker(task, *args)
        worker.signals.progress.connect(lambda p: self.statusBar().showMessage(getattr(p, "message", str(p))))
        worker.signals.result.connect(on_result)
        worker.signals.error.connect(self._error)
        worker.signals.finished.connect(lambda: self._workers.discard(worker))
        self._workers.add(worker)
        start(worker)
        return worker

    def _set_ready(self, ready: bool) -> None:
        self.busy.setVisible(not ready)
        for w in (self.query, self.image_button, self.search_button):
            w.setEnabled(ready)

    @Slot(object)
    def _catalog_opened(self, engine) -> None:
        self.engine = engine
        self._set_ready(True)
        self.statusBar().showMessage(self.tr("Catalog: %s — %d products") % (engine.catalog.name, len(engine.catalog)))
        if not self.query.text():
            self.query.setText("red summer dress")
        self.search()

    @Slot(str, str)
    def _error(self, message: str, details: str) -> None:
        self._set_ready(self.engine is not None)
        box = QMessageBox(QMessageBox.Warning, self.tr("Vitrina"), message, parent=self)
        box.setDetailedText(details)
        box.open()

    def choose_image(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, self.tr("Query image"), "",
                                              self.tr("Images (*.jpg *.jpeg *.png *.webp *.gif *.bmp *.tif *.tiff)"))
        if path:
            self.set_query_image(path)

    def set_query_image(self, path: str | None) -> None:
        self.image_path = path
        self.image_label.setText(self.tr("Query image: %s") % Path(path).name if path else "")
        self.search()

    def search(self) -> None:
        if self.engine is None or not (self.query.text().strip() or self.image_path):
            return
        self.busy.setVisible(True)
        self._run(backend.run_search, self.engine, self.query.text(), self.image_path, self.weight.value() / 100,
                  on_result=self._show_results)

    @Slot(object)
    def _show_results(self, rows) -> None:
        self.busy.setVisible(False)
        self.model.set_rows(rows)
        self.statusBar().showMessage(self.tr("%d results in %s") % (len(rows), self.engine.catalog.name))
