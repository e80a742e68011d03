"""The main window: query and filters on the left, results in the middle, details on the right.

It composes the panels and routes their signals to engine work in workers. Engine work runs on
one single-thread pool so the catalog, indexes and models are never used concurrently; a newer
request cancels the queued older one (typing fast never piles up searches). The insights (clusters
and maps: a minute for a t-SNE of a large catalog) run on a thread and catalog connection of their
own, as learning "Goes with" does, so searching goes on meanwhile.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QByteArray, QDataStream, QSettings, Qt, QThreadPool, QTimer, Slot
from PySide6.QtGui import QAction, QGuiApplication, QImage, QKeySequence
from PySide6.QtWidgets import (QFileDialog, QFrame, QLabel, QMainWindow, QMessageBox, QProgressBar, QPushButton,
                               QScrollArea, QSplitter, QTabWidget)

from explain.types import MATCH_MAP, PERTURBATION
from gui import backend, plural
from gui.details_panel import DetailsPanel
from gui.filters_panel import FilterState, FiltersPanel
from gui.insights_panel import InsightsPanel
from gui.query_panel import IMAGE_SUFFIXES, QueryPanel, QueryState, save_pasted_photo
from gui.results_panel import ResultsPanel
from gui.workers import TaskWorker

MAX_RECENT = 8
FILTERS_CHARS = 90  # the filters said beside the results' count, at most (all of them are in the Filters tab)
DETAILS_MIN_WIDTH = 300  # the photos side by side, the heatmap menu, the curves
CATALOG_LABEL_WIDTH = 640  # the status bar's catalog line at most, in pixels (the models' names fit beside the name)


class MainWindow(QMainWindow):
    def __init__(self, catalog_path: Path, demo: bool, settings: QSettings | None = None):
        super().__init__()
        self.settings = settings or QSettings()
        self.setWindowTitle(self.tr("Vitrina"))
        self.engine = None
        self.holder: dict = {}  # explainer and rationale writer, created on first use
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        # insights (a t-SNE map takes a minute on 10,000 products) on a thread and catalog connection of their own:
        # searching goes on meanwhile
        self.insights_pool = QThreadPool(self)
        self.insights_pool.setMaxThreadCount(1)
        self.paste_pool = QThreadPool(self)  # a pasted photo is written while a search or a report runs
        self.paste_pool.setMaxThreadCount(1)
        self._pasted: list[Path] = []  # temporary files of the photos pasted in this window
        self._workers: set[TaskWorker] = set()
        self._latest: dict[str, TaskWorker] = {}
        self._selected_pk: int | None = None
        self._opening: tuple[Path, Path | None] | None = None  # the catalog opening and the one open before it
        self._restoring = False  # the opening one is the catalog before, coming back after a failed open
        self._insights_asked: tuple[str, str] = ("kmeans", "pca")  # the clusters and map asked for last
        self._selections = 0  # products chosen so far (a search keeps one chosen after it was asked)
        self._cancelled_at = -1  # the count when Cancel stopped the chosen product's work: it is not kept
        self._asked_at: int | None = None  # the count when the searches not answered yet began to be asked
        self._counted_by: TaskWorker | None = None  # the task whose progress counts its steps on the busy bar
        self._progress_message = ""  # the status bar's last progress message, cleared once all work is done
        # (catalog, method, map): clusters being computed when another catalog began to open
        self._insights_stopped: tuple[Path, str, str] | None = None
        self._reselect: int | None = None  # re-indexed: the product to select again once the results are back
        self._reindex_after_open: Path | None = None  # an adapted catalog: re-indexed once it is open again
        # the query whose results are shown: what a result is explained against (the text box may hold words
        # typed since, not searched yet); None while browsing a cluster or with no results
        self._searched: QueryState | None = None
        self._searched_filters: FilterState | None = None  # the filters of the results shown
        self._shown_match = None  # the explanation the details show (backend.ExplainedMatch)
        self._rationale_cancelled: int | None = None  # the product shown whose rationale Cancel stopped
        self._shown_cluster = None  # the Insights cluster the results shown were limited to
        self.goes_with_dialog = None  # kept while it learns, closed or not
        self.import_dialog = self.adapt_dialog = None  # closing them cancels their work; so does closing the window

        self.query = QueryPanel()
        self.filters = FiltersPanel()
        self.results = ResultsPanel()
        self.details = DetailsPanel()
        self.insights = InsightsPanel()
        self.results.tabs.addTab(self.insights, self.tr("Insights"))
        self.left_tabs = left = QTabWidget()
        left.addTab(self.query, self.tr("Query"))
        left.addTab(self.filters, self.tr("Filters"))
        details = QScrollArea()  # a long description's highlighted words scroll instead of crushing the photos
        details.setWidget(self.details)
        details.setWidgetResizable(True)
        details.setFrameShape(QFrame.NoFrame)
        # what a narrow window cannot fit scrolls into view (it was cut off at the right, unreachable)
        details.setHorizontalScrollBarPolicy(Qt.ScrollBarAsNeeded)
        details.setMinimumWidth(DETAILS_MIN_WIDTH)  # a narrow window narrows the grid first (it kept 190 px of details)
        self.splitter = QSplitter(Qt.Horizontal)
        for w in (left, self.results, details):
            self.splitter.addWidget(w)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setStretchFactor(2, 2)
        self.setCentralWidget(self.splitter)
        self._status_widgets()
        self._menus()

        self.query.changed.connect(self.search)
        self.query.image_requested.connect(self.open_image)
        self.query.refused.connect(lambda why: self._error(why, ""))
        self.query.drop.dropped_image.connect(self.set_query_qimage)
        self.filters.changed.connect(self.search)
        self.results.selected.connect(self.select_result)
        self.results.thumbs.connect(self.thumb)
        self.details.method_changed.connect(lambda _m: self._explain_selected(another_method=True))
        self.insights.compute.connect(self.compute_insights)
        self.insights.cluster_chosen.connect(self.choose_cluster)
        self.insights.product_clicked.connect(self.select_result)
        self._restore()
        self.open_catalog(catalog_path, demo)

    # ---- chrome -------------------------------------------------------------------------
    def _status_widgets(self) -> None:
        self.catalog_label = QLabel()
        # learning "Goes with" goes on with its dialog closed: this says so, and a click shows the dialog
        self.learning_label = QLabel(textFormat=Qt.RichText)
        self.learning_label.linkActivated.connect(lambda _: self.goes_with_dialog and self.goes_with_dialog.show())
        self.busy = QProgressBar(maximum=0, maximumWidth=140, textVisible=False)
        self.cancel_button = QPushButton(self.tr("Cancel"))
        self.cancel_button.clicked.connect(self.cancel_all)
        for w in (self.learning_label, self.catalog_label, self.busy, self.cancel_button):
            self.statusBar().addPermanentWidget(w)
        self.learning_label.hide()
        self._set_busy(False)

    def _menus(self) -> None:
        file = self.menuBar().addMenu(self.tr("&File"))
        self._action(file, self.tr("&Open Catalog…"), self.choose_catalog, QKeySequence.Open)
        self.recent_menu = file.addMenu(self.tr("Open &Recent"))
        self._action(file, self.tr("Open &Photo…"), self.open_image, "Ctrl+Shift+O")
        file.addSeparator()
        self._action(file, self.tr("&Import Products…"), self.import_products, "Ctrl+I")
        self._action(file, self.tr("Re-&index Catalog"), self.reindex)
        self._action(file, self.tr("&Adapt Model to This Catalog…"), self.adapt_model)
        self._action(file, self.tr("Learn \"&Goes with\" from Co-purchases"), self.train_goes_with)
        file.addSeparator()
        self._action(file, self.tr("&Export Report of All Results…"), lambda: self.export_report(False), "Ctrl+E")
        self._action(file, self.tr("Export Report of the &Selected Result…"), lambda: self.export_report(True),
                     "Ctrl+Shift+E")
        file.addSeparator()
        self._action(file, self.tr("&Quit"), self.close, QKeySequence.Quit)
        edit = self.menuBar().addMenu(self.tr("&Edit"))
        self._action(edit, self.tr("&Copy Result Id and Rationale"), self.copy_result, QKeySequence.Copy)
        self._action(edit, self.tr("&Paste Photo as Query"), self.paste_image, QKeySequence.Paste)
        self._action(edit, self.tr("&Find…"), self.focus_text, QKeySequence.Find)
        self._action(edit, self.tr("&Reset Filters"), self.filters.reset, "Ctrl+R")
        edit.addSeparator()
        self._action(edit, self.tr("Language &Model for Rationales…"), lambda: self.choose_language_model())
        self._action(edit, self.tr("Use the &Bundled Language Model"), lambda: self.set_language_model(None))
        help_menu = self.menuBar().addMenu(self.tr("&Help"))
        self._action(help_menu, self.tr("&About Vitrina"), self.about)
        self._update_recent()

    def _action(self, menu, text, slot, shortcut=None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def choose_language_model(self, path: str | None = None) -> None:
        """A GGUF file of the user's (a larger model may write rationales that pass the checks more often)."""
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, self.tr("Language Model for Rationales"), "",
                                                  self.tr("GGUF models (*.gguf);;All files (*)"))
        if path:
            self.set_language_model(path)

    def set_language_model(self, path: str | None) -> None:
        """The rationales' model from now on (None: the bundled SmolLM2); one that is no GGUF file is refused."""
        from core.errors import AppError
        from explain.rationale import check_model_file

        if path is None:
            self.settings.remove("rationale/model")
            self.statusBar().showMessage(self.tr("Rationales are written by the bundled language model"), 6000)
            return
        try:
            check_model_file(path)
        except AppError as exc:
            self._error(str(exc), "")
            return
        self.settings.setValue("rationale/model", str(path))
        self.statusBar().showMessage(self.tr("Rationales are written by %s from the next one on")
                                     % Path(path).name, 8000)

    def _setting(self, key: str, kind: type, default=None):
        """A stored setting if it has the type it is written with, else ``default``: a settings file edited by
        hand (or by another version) must not stop the window from opening."""
        value = self.settings.value(key)
        if kind is int:
            try:
                return int(value) if value is not None else default
            except (TypeError, ValueError):
                return default
        if kind is list and isinstance(value, str):  # QSettings reads a one-item list back as that item
            return [value]
        return value if isinstance(value, kind) else default

    def _restore(self) -> None:
        geometry = self._setting("window/geometry", QByteArray)
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(1400, 860)
        state = self._setting("window/splitter", QByteArray)
        if state is None or not self._columns_fit(state) or not self.splitter.restoreState(state):
            # the window's shares, whatever its width
            width = self.width()
            self.splitter.setSizes([round(width * 0.21), round(width * 0.43), round(width * 0.36)])
        method = self._setting("details/method", str)
        if method is not None and self.details.method.findText(method) >= 0:
            self.details.method.setCurrentText(method)
        self.details.opacity.setValue(self._setting("details/opacity", int, 60))

    def _columns_fit(self, state: QByteArray) -> bool:
        """Whether a saved splitter state has a width for each column, each at least its minimum or closed (0 px,
        one at most): Qt restores another layout's (two columns) or a truncated one with columns of 0 px, and that
        was saved again."""
        stream = QDataStream(state)
        stream.setVersion(QDataStream.Qt_5_0)  # as QSplitter.saveState writes it
        stream.readInt32(), stream.readInt32()  # its marker and version: restoreState checks them
        count = stream.readInt32()
        if stream.status() != QDataStream.Ok or count != self.splitter.count():
            return False
        sizes = [stream.readInt32() for _ in range(count)]
        columns = map(self.splitter.widget, range(count))
        return stream.status() == QDataStream.Ok and sizes.count(0) <= 1 and all(
            size == 0 or size >= (column.minimumWidth() or column.minimumSizeHint().width())  # 0: closed by the user
            for size, column in zip(sizes, columns))

    def closeEvent(self, event) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/splitter", self.splitter.saveState())
        self.settings.setValue("details/method", self.details.method.currentText())
        self.settings.setValue("details/opacity", self.details.opacity.value())
        for worker in list(self._workers):  # not cancel_all: a catalog opening must not bring back the one before now
            worker.cancel()
        for dialog in (self.goes_with_dialog, self.import_dialog, self.adapt_dialog):
            if dialog is not None:  # their work stops too: a window closed mid-import must not wait for it
                dialog.cancel()
        if any(pool.activeThreadCount() for pool in (self.pool, self.insights_pool, self.paste_pool)):
            self.hide()  # gone at once: a model being imported (2-3.5 s after opening) cannot be cut short
        self.pool.waitForDone(5000)
        self.insights_pool.waitForDone(5000)
        self.paste_pool.waitForDone(5000)
        self._forget_pasted(keep_none=True)
        super().closeEvent(event)

    # ---- running work -------------------------------------------------------------------
    def _run(self, kind: str, task, *args, on_result, on_progress=None, streams: bool = False,
             pool: QThreadPool | None = None, any_catalog: bool = False, on_error=None,
             result_when_cancelled: bool = False) -> TaskWorker:
        """Runs ``task`` on a pool; its result (and its own progress) reach the window only while the catalog
        it was asked for is still the one open (``any_catalog``: whatever is open then, e.g. opening one).
        ``on_error(message)``: after the error box, what replaces what was shown while it ran (on the same terms).
        ``result_when_cancelled``: its result arrives even if Cancel came after it was made (a report written)."""
        older = self._latest.get(kind)
        if older is not None:
            older.cancel()  # a newer request of the same kind supersedes it
        worker = TaskWorker(task, *args, streams=streams, result_when_cancelled=result_when_cancelled)
        engine = self.engine

        def current(apply, always: bool = False):  # what a worker sent before it was cancelled arrives after:
            # dropped then
            return lambda value: None if worker.cancelled and not always \
                or not (any_catalog or self.engine is engine is not None) else apply(value)

        worker.signals.progress.connect(current(on_progress or (lambda p: self._show_progress(p, worker))))
        worker.signals.result.connect(current(on_result, result_when_cancelled))
        # a superseded search's error (e.g. about a photo no longer in the query) is dropped like its results
        worker.signals.error.connect(lambda message, details: None if worker.cancelled and not any_catalog
                                     else self._error(message, details))
        if on_error is not None:
            worker.signals.error.connect(lambda message, _details: current(on_error)(message))
        worker.signals.finished.connect(lambda: self._finished(kind, worker))
        self._workers.add(worker)
        self._latest[kind] = worker
        self._set_busy(True)
        (pool or self.pool).start(worker)
        return worker

    def _finished(self, kind: str, worker: TaskWorker) -> None:
        self._workers.discard(worker)
        if self._pasted:  # a pasted photo it read (a report's, a search's, the paste's own) may be no query's now
            self._forget_pasted()
        if self._latest.get(kind) is worker:
            del self._latest[kind]
        if self._counted_by is worker:  # the work left is "busy" until it reports how far it is (it stayed 2/3
            self._counted_by = None  # full)
            self.busy.setRange(0, 0)
        self._set_busy(bool(self._workers))
        if not self._workers and self.statusBar().currentMessage() == self._progress_message:
            self.statusBar().clearMessage()  # "Loading models…" stayed after they were loaded

    def _show_catalog(self, text: str) -> None:
        """The status bar's catalog line, cut with "…" past CATALOG_LABEL_WIDTH (a long catalog name set the
        window's minimum width); the whole line is its tooltip."""
        self.catalog_label.setText(self.catalog_label.fontMetrics().elidedText(text, Qt.ElideMiddle,
                                                                             CATALOG_LABEL_WIDTH))
        self.catalog_label.setToolTip(text)

    def _set_busy(self, busy: bool) -> None:
        self.busy.setVisible(busy)
        self.cancel_button.setVisible(busy)
        if not busy:
            self.busy.setRange(0, 0)  # the next task is "busy" until it reports how far it is

    def _show_progress(self, p, worker: TaskWorker | None = None) -> None:
        self._progress_message = getattr(p, "message", "") or str(p)
        total = getattr(p, "total", None)
        self._counted_by = worker if total else None
        self.statusBar().showMessage(self._progress_message)
        self.busy.setRange(0, total or 0)  # a task that knows its steps (learning "Goes with") fills the bar
        if total:
            self.busy.setValue(getattr(p, "done", 0))

    def cancel_all(self) -> None:
        explaining = "explain" in self._latest
        listing = "goes-with" in self._latest  # queued behind the heatmap, or finding
        writing = "rationale" in self._latest
        # a catalog coming back after a failed open is not cancelled: that left no catalog open, its state wiped
        opening = self._opening if "open" in self._latest and not self._restoring else None
        # a search waiting behind other work (a report: "Cancel stops the report") is what the query box says
        # now: it stays, and runs once the work ahead of it stops (cancelled too, it left the results of the
        # query before under the new words); so does a catalog opening behind it
        waiting = {self._latest.get(k) for k in ("search", "classify")} - {None}
        waiting = {w for w in waiting if not w.started} if any(w.started for w in self._workers - waiting) else set()
        if self._restoring and "open" in self._latest:
            waiting.add(self._latest["open"])
        report, opens = self._latest.get("report"), self._latest.get("open")
        if opens is not None and not opens.started and report is not None and report.started \
                and not report.cancelled:  # it said "once the report is written (Cancel stops the report)"
            waiting.add(opens)
        if "paste" in self._latest:  # a photo pasted a moment ago is the query's photo: not dropped unsaid
            waiting.add(self._latest["paste"])
        if opens in waiting and self._opening is not None and not self._restoring:
            opening = None  # it opens now: no longer "once the report is written"
            self.results.set_similar([], self.tr("Opening %s…") % self._opening[0].name)
            self._show_catalog(self.tr("Opening %s…") % self._opening[0].name)
        searching = self._latest.get("search")
        for worker in list(self._workers - waiting):
            worker.cancel()
        if searching is not None and searching.cancelled and not self.results.similar_model.rowCount():
            # it said "Searching once the models are loaded…" with nothing searching
            self.results.set_similar([], self.tr("Search cancelled: press Enter in the query box to search again"))
        if explaining:  # its "Explaining…" would stay for good
            self._cancelled_at = self._selections  # nor explained again when a search waiting meanwhile answers
            self.details.clear(self.tr("Cancelled: select the result again, or choose a heatmap, to explain it."))
        elif writing:  # its "writing…" stayed for good under half a sentence, unchecked
            self.details.cancel_rationale()
            self._rationale_cancelled = self.details.pk
        if listing and not self.results.goes_with_model.rowCount():  # its "Finding what goes with it…" stayed
            self.results.set_goes_with([], self.tr("Cancelled: select the product again to see what goes with it"))
        self.statusBar().showMessage(self.tr("Cancelled"), 3000)
        if opening is not None:  # it stayed "Opening…" with everything disabled: the catalog before comes back
            self._open_failed(*opening)

    @Slot(str, str)
    def _error(self, message: str, details: str) -> None:
        if any(box.text() == message and box.isVisible() for box in self.findChildren(QMessageBox)):
            return  # said already, and still on screen (each search of a model that cannot load said it again)
        box = QMessageBox(QMessageBox.Warning, self.tr("Vitrina"), message, parent=self)
        box.setDetailedText(details)
        box.open()

    # ---- catalog ------------------------------------------------------------------------
    def open_catalog(self, path: Path, demo: bool = False, restore: bool = False) -> None:
        """``restore``: the catalog open before a failed or cancelled open comes back with the query, the filters,
        the clusters and the selection it had (the failed open of a text file wiped them). The example products,
        category, filters and clusters of the catalog before are dropped only once the new one is open."""
        # the catalog to go back to if this one fails or is cancelled (while one opens: the one open before that)
        before = self.engine.catalog.path if self.engine is not None else self._opening and self._opening[1]
        if restore:  # another open started while this one comes back falls back to it too
            before = Path(path)
        self._opening, self._restoring = (Path(path), before), restore
        computing = self._latest.get("insights")
        if computing is not None and not computing.cancelled and self.engine is not None:
            self._insights_stopped = (self.engine.catalog.path, *self._insights_asked)  # asked again if it comes back
        self.engine = None
        self.holder = {}
        self._stop("search", "classify", "insights", "models")  # the catalog before's
        if self._selected_pk is not None:  # selected again if this catalog is the one that comes back
            self._reselect = self._selected_pk
        self._forget_selection()
        self._searched = None
        # searched again once a catalog is open (the same results, if it comes back); meanwhile not "No results:
        # loosen the filters", with nothing searched
        report = self._latest.get("report")
        if report is not None and not report.cancelled:  # one pool: it waited for minutes, saying only "Opening…"
            opening = self.tr("Opening %s once the report is written (Cancel stops the report)…") % Path(path).name
        else:
            opening = self.tr("Opening %s…") % Path(path).name
        self.results.set_similar([], opening)
        self.query.setEnabled(False)
        self._show_catalog(opening)
        self._run("open", backend.open_catalog, Path(path), demo, any_catalog=True,
                  on_result=lambda engine: self._catalog_opened(engine, restore, demo),
                  on_error=lambda _why: self._open_failed(Path(path), before))

    def _clear_catalog_state(self) -> None:
        """What belonged to the catalog before: its results, clusters, example products, category."""
        self._forget_selection()
        self._searched = self._reselect = None
        self.results.set_similar([])
        self.insights.clear()
        self.query.forget_products()
        self.query.set_category(None)  # "only this category": a category of the catalog before

    def _open_failed(self, path: Path, before: Path | None) -> None:
        """The error box says why; the catalog leaves the recent list if it is gone, and the one open before
        comes back (the window stayed 'Opening…' with everything disabled)."""
        self._opening, self._restoring = None, False
        if not path.exists():
            self.settings.setValue("recent", [p for p in self._recent() if p != str(path)])
            self._update_recent()
        if before is not None and before != path and before.exists():
            self.open_catalog(before, restore=True)
        else:
            self._clear_catalog_state()
            none = self.tr("No catalog open: File > Open Catalog or Import Products…")
            self._show_catalog(none)
            self.results.set_similar([], none)  # not "loosen the filters"

    def _catalog_opened(self, engine, restore: bool = False, demo: bool = False) -> None:
        self.engine = engine
        self._opening, self._restoring = None, False
        if not restore:
            self._clear_catalog_state()
        self.query.setEnabled(True)
        cat = engine.catalog
        fields = {f: cat.field_values(f) for f in cat.category_fields()}
        self.filters.set_fields(fields, keep=restore)
        models = ", ".join(s.encoder_id for s in engine.spaces.values())
        self._show_catalog(self.tr("%s · %s · %s") % (cat.name, plural(len(cat), "product"), models))  # "1 products"
        self._remember(cat.path)
        if engine.notes:  # e.g. its adapted model is gone and the shipped one is used: said, not only logged
            QMessageBox(QMessageBox.Warning, self.tr("Vitrina"),
                        "\n\n".join(backend.in_window_words(n) for n in engine.notes), parent=self).open()
        self._run("models", backend.load_models, engine, streams=True, on_result=lambda _none: None)
        if self.query.is_empty() and demo:  # the demo opens with results; a shop's own catalog with its own query
            # (typed into every catalog, the words were mixed into the first photo dropped: results pulled
            # towards red dresses, unsaid)
            self.query.text.setText(self.tr("red summer dress"))
        self.search()
        stopped, self._insights_stopped = self._insights_stopped, None
        if restore and stopped is not None and stopped[0] == cat.path:  # the clusters asked for before the failed open
            self.compute_insights(*stopped[1:])
        if self._reindex_after_open == cat.path:
            self.reindex()
        self._reindex_after_open = None

    def choose_catalog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, self.tr("Open Catalog"), "", self.tr("Vitrina catalogs (*.vitrina)"))
        if path:
            self.open_catalog(Path(path))

    def import_products(self) -> None:
        from gui.import_dialog import ImportDialog

        current = str(self.engine.catalog.path) if self.engine else None
        dialog = self.import_dialog = ImportDialog(current, self, self.pool, is_open=current is not None)
        dialog.imported.connect(lambda path: self.open_catalog(Path(path)))
        dialog.open()

    def _catalog_open(self) -> bool:
        """Whether a catalog is open; if not, the status bar says so (a menu action did nothing, silently)."""
        if self.engine is None:
            self.statusBar().showMessage(self.tr("No catalog is open yet: wait for it to open, or File > Open "
                                                 "Catalog or Import Products…"), 6000)
        return self.engine is not None

    def reindex(self) -> None:
        if self._catalog_open():
            self._run("reindex", backend.reindex, self.engine, streams=True, on_result=self._reindexed)

    def _reindexed(self, done) -> None:
        """New vectors, the same products and categories: the results are searched again with the user's filters,
        query and selection (it reset the category filters and typed a query into an empty box). Photos that could
        not be read are listed: their products are left out of the photo spaces."""
        engine, unreadable = done
        if unreadable:
            box = QMessageBox(QMessageBox.Warning, self.tr("Vitrina"),
                              self.tr("Re-indexed; %s could not be read and %s left out of the photo spaces until "
                                      "it is replaced (see the details).")
                              % (plural(len(unreadable), "photo"), "is" if len(unreadable) == 1 else "are"),
                              parent=self)
            box.setDetailedText("\n".join(unreadable))
            box.open()
        models = ", ".join(s.encoder_id for s in engine.spaces.values())
        cat = engine.catalog
        self._show_catalog(self.tr("%s · %s · %s") % (cat.name, plural(len(cat), "product"), models))  # "1 products"
        self._reselect = self._selected_pk
        self.search()

    def adapt_model(self) -> None:
        from gui.adapt_dialog import AdaptDialog

        if self.engine is None or "vit" not in self.engine.spaces:
            QMessageBox.information(self, self.tr("Vitrina"), self.tr("Open a catalog with photos first."))
            return
        dialog = self.adapt_dialog = AdaptDialog(self.engine, self.pool, self)
        adapted = self.engine.catalog.path  # the catalog it adapts, whatever is open when it is done
        dialog.adapted.connect(lambda kept: kept and self._open_and_reindex(adapted))
        dialog.open()

    def _open_and_reindex(self, path: Path) -> None:
        """A kept adapt: the catalog opened again with the new ViT, whose vectors are then made (the dialog promised
        it; the ViT space stayed empty until File > Re-index)."""
        self._reindex_after_open = Path(path)
        self.open_catalog(path)

    def train_goes_with(self) -> None:
        from gui.goes_with_dialog import GoesWithDialog

        if not self._catalog_open():
            return
        if not self.engine.catalog.has_copurchases():
            QMessageBox(QMessageBox.Information, self.tr("Vitrina"), backend.NOTHING_TO_LEARN, parent=self).open()
            return
        dialog = self.goes_with_dialog
        if dialog is None or (dialog.engine is not self.engine and not dialog.running):  # one per catalog, and
            if dialog is not None:  # one that still learns for the catalog before is shown until it is done
                dialog.deleteLater()
            dialog = self.goes_with_dialog = GoesWithDialog(self.engine, self)
            dialog.learned.connect(self._goes_with_trained)
            dialog.percent.connect(self._learning)
            dialog.failed.connect(self._goes_with_failed)
        dialog.show()
        dialog.raise_()

    def _learning(self, percent: int) -> None:
        self.learning_label.setVisible(percent >= 0)
        self.learning_label.setText(self.tr("<a href=\"#\">Learning \"Goes with\": %d %%</a>") % max(percent, 0))

    def _goes_with_failed(self, message: str) -> None:
        """Learning failed with its dialog closed: said here (the link vanished and the reason stayed unseen)."""
        dialog = self.goes_with_dialog
        if dialog is not None and not dialog.isVisible():
            box = QMessageBox(QMessageBox.Warning, self.tr("Vitrina"),
                              self.tr("Learning \"Goes with\" stopped: %s") % message, parent=self)
            box.open()

    def _goes_with_trained(self, model) -> None:
        dialog = self.goes_with_dialog  # the same catalog opened again meanwhile is still its catalog
        if dialog is None or self.engine is None or dialog.engine.catalog.path != self.engine.catalog.path:
            return  # learned for a catalog that is no longer open
        self.statusBar().showMessage(self.tr("\"Goes with\" learned from %d co-purchase pairs") % model.info["pairs"],
                                     10000)
        if self._selected_pk is not None:  # the selected product's list, with the model's picks now
            self._run("goes-with", backend.goes_with, self.engine, self._selected_pk, on_result=self._show_goes_with)

    def _remember(self, path: Path) -> None:
        recent = [p for p in self._recent() if p != str(path)]
        self.settings.setValue("recent", [str(path), *recent][:MAX_RECENT])
        self._update_recent()

    def _recent(self) -> list[str]:
        return [p for p in self._setting("recent", list, []) if isinstance(p, str) and p]

    def _update_recent(self) -> None:
        self.recent_menu.clear()
        for p in self._recent():
            action = self.recent_menu.addAction(Path(p).name.replace("&", "&&"))  # "H&M" is no accelerator
            action.setToolTip(p)
            action.triggered.connect(lambda _=False, p=p: self.open_catalog(Path(p)))
        self.recent_menu.setEnabled(bool(self.recent_menu.actions()))

    # ---- query ----------------------------------------------------------------------------
    def open_image(self) -> None:
        patterns = " ".join(f"*{suffix}" for suffix in sorted(IMAGE_SUFFIXES))
        path, _ = QFileDialog.getOpenFileName(self, self.tr("Query Photo"), "",
                                              self.tr("Images (%s);;All files (*)") % patterns)
        if path:
            self.query.set_image_file(path)

    def paste_image(self) -> None:
        """Edit > Paste Photo as Query (Ctrl+V; in the description box, the box pastes a photo itself)."""
        if not self.query.paste_photo(QGuiApplication.clipboard().mimeData()):
            self.statusBar().showMessage(self.tr("The clipboard holds no image"), 4000)

    def set_query_qimage(self, image: QImage) -> None:
        """Pasted or dropped image data as the query's photo: written to a temporary file of this window's (deleted
        once no query of it names the file, and at Quit) off the GUI thread, then shown and searched."""
        from core.images import MAX_PIXELS

        if image.width() * image.height() > MAX_PIXELS:  # said of the paste, not of a temporary file it never saw
            self._error(self.tr("The pasted photo has too many pixels (%dx%d; the limit is %s): resize it to a few "
                                "thousand pixels a side.") % (image.width(), image.height(), f"{MAX_PIXELS:,}"), "")
            return
        folder = Path(tempfile.gettempdir()) / backend.PASTED_FOLDER
        try:
            folder.mkdir(exist_ok=True)
            handle, path = tempfile.mkstemp(prefix="pasted-", suffix=".png", dir=folder)  # unique: two windows
            os.close(handle)  # pasting at once wrote the same "pasted-<cacheKey>.png"
        except OSError as exc:
            self._error(self.tr("The pasted photo could not be saved to the temporary folder %s (%s).")
                        % (folder, exc), "")
            return
        self._pasted.append(Path(path))
        self.statusBar().showMessage(self.tr("Reading the pasted photo…"), 10000)
        chosen = self.query.photo_changes  # a photo opened or cleared meanwhile is the query's, not this paste
        self._run("paste", save_pasted_photo, image, path, pool=self.paste_pool, any_catalog=True,
                  on_result=lambda saved: self._use_pasted(*saved) if self.query.photo_changes == chosen else None)

    def _use_pasted(self, path: str, preview) -> None:
        self.query.set_image_file(path, preview)  # the photo it replaces is let go once its work ends (_finished)

    def _forget_pasted(self, keep_none: bool = False) -> None:
        """Deletes this window's pasted photos that nothing names any more (all of them: ``keep_none``): neither
        the query panel, nor the results shown (their explanations read it), nor any work still running (a
        report reads it for every result, a search or a paste being written)."""
        named = set()
        if not keep_none:
            held = [a for w in self._workers for a in w.args]
            named = {str(q.image_path) for q in (self.query.state(), self._searched, *held)
                     if isinstance(q, QueryState) and q.image_path}
            named |= {str(a) for a in held if isinstance(a, (str, Path))}
        for path in [p for p in self._pasted if str(p) not in named]:
            try:
                path.unlink(missing_ok=True)
            except OSError:  # still open elsewhere (Windows): tried again next time
                continue
            self._pasted.remove(path)

    def focus_text(self) -> None:
        self.left_tabs.setCurrentWidget(self.query)  # a box in a hidden tab takes no focus (Ctrl+F did nothing)
        self.query.text.setFocus()
        self.query.text.selectAll()

    def search(self) -> None:
        if self.engine is None:
            return
        # the selected result's work is for results about to be replaced: the search waited behind it (one pool)
        self._stop("explain", "rationale", "goes-with")
        if "report" in self._latest:  # it waits for minutes, unsaid, behind a report of 50 results
            self.statusBar().showMessage(self.tr("Searching once the report is written (Cancel stops the report)"),
                                         10000)
        chosen = self.insights.chosen_cluster
        # a product chosen before the answer comes is kept (_show_results): chosen since the first of the searches
        # not answered yet was asked (a second one asked meanwhile, a filter changed, dropped it)
        pending = self._latest.get("search")  # one cancelled is not awaited: it will not answer
        selections = self._asked_at if pending is not None and not pending.cancelled and self._asked_at is not None \
            else self._selections
        self._asked_at = selections
        if not self.results.similar_model.rowCount() and (chosen is not None or not self.query.is_empty()):
            # not "Type a description" with words typed, while the search waits behind the models or loads them
            self.results.set_similar([], self.tr("Searching once the models are loaded…") if "models" in
                                     self._latest else self.tr("Searching…"))
        if self.query.is_empty():
            if chosen is not None:  # browsing a cluster: its products, the most typical first
                self._run("search", backend.browse_cluster, self.engine, self.insights.clustering, chosen.label,
                          self.filters.state(), on_result=lambda rows: self._show_results(rows, None, selections),
                          on_error=self._search_failed)
            else:  # nothing to search for: no list (a cluster's stayed, under "Results from all products")
                self._stop("search")
                self._forget_selection()
                self._searched = self._reselect = self._asked_at = None
                self.results.set_similar([], self.tr("Type a description, drop a photo, or choose a cluster in "
                                                     "the Insights tab"))
                self._highlight_results()
            return
        state = self.query.state()
        filters = replace(self.filters.state(), pks=self.cluster_pks)
        self._run("search", backend.run_search, self.engine, state, filters,
                  on_result=lambda rows, state=state, filters=filters: self._show_results(rows, state, selections,
                                                                                          filters),
                  on_error=self._search_failed)
        if state.image_path and not state.same_category and "vit" in self.engine.spaces:
            self._run("classify", backend.classify, self.engine, state.image_path,
                      on_result=lambda guess, photo=state.image_path: self._show_category(guess, photo))

    def _search_failed(self, why: str) -> None:
        """The error box says why; the results of the query before are not this one's (they stayed, with their
        count, as if they answered it): none, and why, where they were."""
        self._forget_selection()
        self._searched = self._reselect = self._asked_at = None
        self.results.set_similar([], self.tr("No results. %s") % why)
        self._highlight_results()

    def compute_insights(self, method: str, map_method: str) -> None:
        from core.errors import AppError

        def insights(*args, **kwargs):  # its messages name the window's menus, not commands (as Goes with's do)
            try:
                return backend.insights(*args, **kwargs)
            except AppError as exc:
                exc.args = (backend.in_window_words(str(exc)),)
                raise

        if self._catalog_open():
            self._insights_asked = (method, map_method)
            self._run("insights", insights, self.engine.catalog.path, method, map_method,
                      on_result=self._show_insights, pool=self.insights_pool, streams=True)

    def _show_insights(self, data) -> None:
        self.insights.show_insights(data)
        self._highlight_results()
        from gui.insights_panel import MAP_NAMES, METHOD_NAMES

        self.statusBar().showMessage(self.tr("Insights: %s (%s), a %s map of %s") % (
            plural(len(data.clustering.clusters), "cluster"),
            METHOD_NAMES.get(data.clustering.method, data.clustering.method),
            MAP_NAMES.get(data.map_method, data.map_method), plural(len(data.pks), "product")), 8000)

    @property
    def cluster_pks(self) -> tuple[int, ...] | None:
        """The products of the cluster chosen in the Insights tab (None: all products)."""
        chosen = self.insights.chosen_cluster
        return None if chosen is None else self.insights.clustering.members(chosen.label)

    def choose_cluster(self, pks) -> None:
        self.statusBar().showMessage(self.tr("Results limited to a cluster of %d products") % len(pks) if pks
                                     else self.tr("Results from all products"), 4000)
        self.search()

    def _highlight_results(self) -> None:
        model = self.results.similar_model
        self.insights.show_results([(row.pk, row.score) for row in map(model.row_at, range(model.rowCount()))],
                                   mark_query=self._searched is not None)  # browsing a cluster: no query to mark

    def _show_results(self, rows, searched: QueryState | None, selections: int | None = None,
                      filters: FilterState | None = None) -> None:
        """``searched``: the query these are the results of (None: a cluster's products, browsed), ``filters``: those
        it was searched with (which a report states); ``selections``:
        the count of products chosen when the search was asked: one chosen since (a point of the map, while the
        search waited behind the models) stays chosen, explained against these results' query (it was wiped, its
        "Goes with" list stopped)."""
        self._asked_at = None
        picked = self._selected_pk if selections is not None and selections != self._selections \
            and self._cancelled_at != self._selections else None  # chosen since, and its work not cancelled
        if picked is not None and not any(row.pk == picked for row in rows) \
                and self.results.tabs.currentWidget() is not self.insights:  # one the map shows stays, whatever
            picked = None  # is listed; a card of the results before that these leave out does not
        if picked is None:
            self._forget_selection("" if not rows else self.tr("Select a result to see why it matches.")
                                   if searched else self.tr("Select a product to see what it is and what goes "
                                                            "with it."))
        asked_before, self._searched = self._searched, searched
        self._searched_filters = filters
        chosen = self._shown_cluster = self.insights.chosen_cluster  # said beside the count: a status message was
        # gone in seconds
        scope = "" if chosen is None else self.tr("cluster “%s”") % chosen.name if searched is None else \
            self.tr("limited to cluster “%s” (Insights: All products lifts it)") % chosen.name
        if filters is not None and searched is not None:  # said as the cluster is: "174 results" hid two filters
            from explain.facts import shortened
            from explain.report import filters_scope

            said = filters_scope(filters.categories, filters.price_min, filters.price_max, filters.rating_min,
                                 filters.min_score)
            scope = " · ".join(s for s in (scope, shortened(said, FILTERS_CHARS)) if s)
        scope = " · ".join(s for s in (scope, getattr(rows, "note", "")) if s)
        self.results.set_similar(rows, scope=scope)
        self._highlight_results()
        self.statusBar().showMessage(self.tr("%d results") % len(rows), 3000)
        keep, self._reselect = self._reselect, None  # re-indexed: the product selected before, if it is still listed
        keep = picked if picked is not None else keep
        row = next((i for i in range(len(rows)) if rows[i].pk == keep), None)
        chosen_before = self._selections
        if row is not None:
            self.results.similar.setCurrentIndex(self.results.similar_model.index(row, 0))  # as a click selects it
        if picked is not None and searched != asked_before and self._selections == chosen_before:
            self._explain_selected()  # against these results' query, unless selecting its card did it

    def _show_category(self, guess, photo: str) -> None:
        if guess and self.query.state().image_path == photo:  # not a photo cleared or replaced since
            self.query.set_category(*guess)

    def thumb(self, pk: int, title: str, up: bool) -> None:
        (self.query.add_like if up else self.query.add_unlike)(pk, title)

    def _forget_selection(self, message: str = "") -> None:
        """Nothing selected: the explanation, rationale and "Goes with" of the product before stop and go."""
        self._stop("explain", "rationale", "goes-with")
        self._selected_pk = None
        self.results.set_goes_with([], self.tr("Select a result to see what goes with it"))
        self.details.clear(message)

    def _stop(self, *kinds: str) -> None:
        for kind in kinds:
            worker = self._latest.get(kind)
            if worker is not None:
                worker.cancel()

    # ---- details --------------------------------------------------------------------------
    def select_result(self, pk: int) -> None:
        if self.engine is None:  # a catalog is opening
            return
        self.results.keep_current(pk)  # the card of the product explained before is highlighted no more
        explaining = self._latest.get("explain")
        if pk == self._selected_pk and (self.details.pk == pk or explaining is not None and not explaining.cancelled):
            # the current card clicked again (a double-click): its explanation is shown or on its way; its
            # rationale cancelled is written again (the badge says to select it again: the click did nothing)
            if self.details.pk == pk and self._rationale_cancelled == pk and self._shown_match is not None:
                self._show_explanation(self._shown_match, pk)
            return
        self._selected_pk = pk
        self._selections += 1
        # chosen in Similar or on the map, or with no list to keep (the catalog before come back after a failed
        # open, with "Goes with" in front: its list stayed empty)
        listed = self.results.tabs.currentWidget() is not self.results.goes_with \
            or not self.results.goes_with_model.rowCount()
        if listed:  # the list of the product before is not this one's, while its heatmap is made first
            self._stop("goes-with")
            self.results.set_goes_with([], self.tr("Finding what goes with it…"))

        def explain_then_list() -> None:  # its heatmap first: the first "Goes with" loads its model (1.5 s on H&M)
            self._explain_selected()
            if listed and self.engine is not None and self._selected_pk == pk:  # then its "Goes with" list
                self._run("goes-with", backend.goes_with, self.engine, pk, on_result=self._show_goes_with)
        QTimer.singleShot(0, explain_then_list)

    def _show_goes_with(self, result) -> None:
        rows, note = result
        # with no picks the tab says why (a status message was gone after seconds, the tab said "nothing yet")
        why = note.removeprefix("Goes with: ").strip()
        self.results.set_goes_with(rows, why[:1].upper() + why[1:] or None)
        if note and rows:  # why the model's picks are missing beside known ones; with none, the tab says it
            self.statusBar().showMessage(note, 20000)

    def _explain_selected(self, another_method: bool = False) -> None:
        """``another_method``: the heatmap menu changed; a match shown already is kept, with what the new map adds
        (it was explained all over again: seconds of work, the photos hidden meanwhile)."""
        if self.engine is None or self._selected_pk is None:
            return
        searched = self._searched
        shown = self._shown_match
        row = self.results.current_row()  # the similarity its card shows (a "Goes with" card shows no similarity)
        score = row.score if row is not None and row.pk == self._selected_pk and \
            self.results.tabs.currentWidget() is self.results.similar else None
        if another_method and shown is not None and shown.pk == self._selected_pk and shown.query == searched \
                and self.details.pk == self._selected_pk:
            self._stop("rationale")
            method = self.details.method.currentText()
            if method == PERTURBATION and method not in shown.explanation.result_maps:
                self.details.faithfulness.setText(self.tr("Making the perturbation map… (a few seconds)"))
            elif method not in shown.explanation.faithfulness and method != MATCH_MAP:
                self.details.faithfulness.setText(self.tr("Measuring the faithfulness of this heatmap…"))
            self._run("explain", backend.explain_method, self.engine, self.holder, shown, method,
                      score, on_result=lambda match, pk=shown.pk: self._show_explanation(match, pk),
                      streams=True, on_error=lambda why, pk=shown.pk: self._explain_failed(pk, why))
            return
        if searched is None:  # a cluster's product or a point of the map, chosen with no query to match: what it is
            self._show_product(self._selected_pk)
            return
        if "vit" not in self.engine.spaces:
            self.details.clear(self.tr("%s — explanations need Vitrina's vision transformer, which this catalog "
                                       "has no vectors of (File > Re-index once its weights are installed).")
                               % self.engine.catalog.product(self._selected_pk).title)
            return
        self._stop("rationale")  # the product before's: its text must not land beside this one
        method = self.details.method.currentText()
        slow = method == PERTURBATION
        self.details.clear(self.tr("Explaining… (the perturbation map takes a few seconds)") if slow
                           else self.tr("Explaining…"), explaining=True)
        self._run("explain", backend.explain, self.engine, self.holder, searched, self._selected_pk,
                  method, score, on_result=lambda match, pk=self._selected_pk: self._show_explanation(match, pk),
                  streams=True, on_error=lambda why, pk=self._selected_pk: self._explain_failed(pk, why))

    def _explain_failed(self, pk: int, why: str) -> None:
        """The error box says why; the details say it too (they said "Explaining…" for good)."""
        if pk == self._selected_pk:
            self.details.clear(self.tr("%s cannot be explained: %s") % (self.engine.catalog.product(pk).title, why))

    def _show_product(self, pk: int) -> None:
        """The product's photo and what the catalog says of it, with what to do to see why it matches."""
        from html import escape

        from core.catalog import readable_attributes
        from core.errors import BadImage

        product = self.engine.catalog.product(pk)
        try:
            image = backend._image(product.image_path)
        except BadImage:  # moved or damaged since the import: the rest is still worth showing
            image = None
        facts = [(self.tr("Brand"), product.brand), (self.tr("Price"), product.price and f"{product.price:,.2f}"),
                 (self.tr("Rating"), product.rating and f"{product.rating:g}"),
                 *readable_attributes(product.attributes).items()]
        about = "<br>".join(f"<b>{escape(k)}:</b> {escape(str(v))}" for k, v in facts if v)
        self.details.show_product(self.tr("%s — type a description or drop a photo to see why it matches them.")
                                  % product.title, image, about)

    @Slot(object)
    def _show_explanation(self, match, pk: int | None = None) -> None:
        self._shown_match, self._rationale_cancelled = match, None
        self.details.show_match(match.title, match.query_image, match.result_image, match.explanation, pk)
        self.details.start_rationale()
        model = self._setting("rationale/model", str) or None  # None: the bundled model
        self._run("rationale", backend.write_rationale, self.engine, self.holder, match.facts, model, streams=True,
                  on_result=self.details.finish_rationale, on_progress=self.details.add_rationale_text)

    def export_report(self, selected_only: bool, folder: str | None = None, limit: int = 50) -> None:
        if not self._catalog_open():
            return
        if "report" in self._latest and not self._latest["report"].cancelled:  # a second one cancelled the first,
            # unsaid (one cancelled already is let go: Export again right after Cancel was refused)
            self.statusBar().showMessage(self.tr("A report is being written: wait for it, or Cancel it first"), 8000)
            return
        searched = self._searched  # the query of the results shown, not words typed since
        if searched is None and "search" in self._latest and not self._latest["search"].cancelled \
                and not self.query.is_empty():  # typed, not answered yet
            self.statusBar().showMessage(self.tr("The results are not in yet: export the report once they are "
                                                 "shown"), 8000)
            return
        if searched is None:  # browsing a cluster: a report explains results against a query
            self.statusBar().showMessage(self.tr("A report explains the results of a query: type a description or "
                                                 "drop a photo first"), 8000)
            return
        if "vit" not in self.engine.spaces:
            self.statusBar().showMessage(self.tr("A report explains each result with Vitrina's vision transformer, "
                                                 "which this catalog has no vectors of"), 8000)
            return
        model = self.results.similar_model
        if selected_only and self._selected_pk is None:  # it exported every result
            self.statusBar().showMessage(self.tr("Select a result first"), 6000)
            return
        rows = [model.row_at(i) for i in range(model.rowCount())]
        pks = [self._selected_pk] if selected_only else [row.pk for row in rows[:limit]]
        shown = {row.pk: row.score for row in rows}
        scores = [shown.get(pk) for pk in pks]  # the cards' similarities (a "Goes with" pick shows none)
        if not pks:
            self.statusBar().showMessage(self.tr("No results to report"), 4000)
            return
        if folder is None:
            folder = QFileDialog.getExistingDirectory(self, self.tr("Folder for the report"))
            if not folder:
                return
        if not (os.path.isdir(folder) and os.access(folder, os.W_OK | os.X_OK)):  # say so before minutes of work
            self._error(self.tr("The report cannot be written to %s: choose a folder you can write to.") % folder, "")
            return

        from explain.report import safe_filename

        query = searched.text or ("photo" if searched.image_path else "more like this")
        # the product of a selected-result report is named whatever the query's length (cut to fit, a long query's
        # name lost it): not the name of the report of all results, which it replaced
        sku = f"-{self.engine.catalog.product(self._selected_pk).sku}" if selected_only else ""
        name = safe_filename(f"vitrina-{self.engine.catalog.name}-{query}", end=sku)

        def written(out) -> None:  # the report of the catalog and query asked for, even if others are open now
            if out is None:  # cancelled
                return
            self.last_report, pages = out
            self.statusBar().showMessage(self.tr("Report written: %s.html and .pdf (%d pages)")
                                         % (self.last_report.name, pages), 8000)

        # the clusters, once computed, name each result's; the one the results shown were limited to (not one
        # chosen since, whose search has not answered yet)
        chosen = self._shown_cluster
        model = self._setting("rationale/model", str) or None  # the rationales' model, as in the window
        self._run("report", backend.export_report, self.engine, self.holder, searched, pks,
                  self.details.method.currentText(), self.insights.clustering, chosen, scores, model, Path(folder),
                  name, self._searched_filters, streams=True, on_result=written, any_catalog=True,
                  result_when_cancelled=True)

    def copy_result(self) -> None:
        """The explained product's id and title, and its rationale: the product the details show, whichever tab is
        in front (the current card of another tab, or one selected a moment ago, is not the one explained)."""
        if self.engine is None or self.details.pk is None:
            return
        product = self.engine.catalog.product(self.details.pk)
        QGuiApplication.clipboard().setText(f"{product.sku}\t{product.title}\n{self.details.rationale.text()}".strip())

    def about(self) -> None:
        from gui.about import about_text

        QMessageBox.about(self, self.tr("About Vitrina"), about_text())
