"""The results: a grid of thumbnails with score badges, in tabs "Similar" and "Goes with".

Thumbs up / down on a result (buttons, context menu, or the + and - keys) refine the query:
up adds it as an example to find more like, down as one to find less like.
"""
from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, QSize, Qt, Signal
from PySide6.QtGui import QAction, QPainter, QPalette
from PySide6.QtWidgets import QHBoxLayout, QLabel, QListView, QPushButton, QTabWidget, QVBoxLayout, QWidget

from gui import plural
from gui.results_model import NoResults, PkRole, ResultsModel
from gui.thumbnail_delegate import ThumbnailDelegate


class ResultsGrid(QListView):
    thumb_key = Signal(bool)  # + or - pressed on a result
    current_clicked = Signal()  # a click on the current card: Qt reports no change, yet it asks for that card
    placeholder = ""  # said in the middle of the grid while it has no card (why, and what to do)

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        if self.placeholder and not self.model().rowCount():
            painter = QPainter(self.viewport())
            painter.setPen(self.palette().color(QPalette.PlaceholderText))
            painter.drawText(self.viewport().rect().adjusted(24, 24, -24, -24), Qt.AlignCenter | Qt.TextWordWrap,
                             self.placeholder)

    def keyPressEvent(self, event) -> None:
        if event.text() in ("+", "-") and self.currentIndex().isValid():
            self.thumb_key.emit(event.text() == "+")
            return
        if event.key() in (Qt.Key_Return, Qt.Key_Enter) and self.currentIndex().isValid() \
                and not event.modifiers() & ~Qt.KeypadModifier:
            # the card the focus made current (Ctrl+Tab into the tab) is chosen as a click chooses it
            self.current_clicked.emit()
            return
        super().keyPressEvent(event)

    focusing = False  # the focus is coming in (not a keyboard user's Tab): a card it makes current is not chosen

    def focusInEvent(self, event) -> None:
        """Qt makes the first card current when the focus comes in with none current: the focus moving here from
        a map that was hidden (the Insights tab left) replaced the product picked there with the first result."""
        self.focusing = event.reason() not in (Qt.TabFocusReason, Qt.BacktabFocusReason)
        try:
            super().focusInEvent(event)
        finally:
            self.focusing = False

    def mousePressEvent(self, event) -> None:
        before = self.currentIndex()
        super().mousePressEvent(event)
        if event.button() == Qt.LeftButton and before.isValid() and \
                self.indexAt(event.position().toPoint()) == before == self.currentIndex():
            self.current_clicked.emit()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setViewMode(QListView.IconMode)
        self.setResizeMode(QListView.Adjust)
        self.setMovement(QListView.Static)
        self.setUniformItemSizes(True)  # smooth with thousands of results: no per-item layout
        self.setLayoutMode(QListView.Batched)
        self.setBatchSize(200)
        self.setSpacing(4)
        self.setIconSize(QSize(150, 150))
        self.setSelectionMode(QListView.SingleSelection)
        self.setItemDelegate(ThumbnailDelegate(self))
        self.setContextMenuPolicy(Qt.ActionsContextMenu)


class ResultsPanel(QWidget):
    selected = Signal(int)  # pk
    thumbs = Signal(int, str, bool)  # pk, title, up

    def __init__(self, parent=None):
        super().__init__(parent)
        self.similar_model, self.goes_with_model = ResultsModel(self), ResultsModel(self)
        self.similar, self.goes_with = ResultsGrid(), ResultsGrid()
        self.similar.setModel(self.similar_model)
        self.goes_with.setModel(self.goes_with_model)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.similar, self.tr("Similar"))
        self.tabs.addTab(self.goes_with, self.tr("Goes with"))
        self.empty = QLabel(self.tr("Nothing yet: drop a photo or type what you are looking for."), wordWrap=True)
        self._counts = {self.similar: self.empty.text(),  # the label's text per tab
                        self.goes_with: self.tr("Select a result to see what goes with it.")}
        self.tabs.currentChanged.connect(self._tab_changed)
        self.up = QPushButton(self.tr("More like this  (+)"))
        self.down = QPushButton(self.tr("Less like this  (−)"))
        for button, up in ((self.up, True), (self.down, False)):
            button.clicked.connect(lambda _=False, up=up: self._thumb(up))
        for grid in (self.similar, self.goes_with):
            grid.selectionModel().currentChanged.connect(self._current_changed)
            # explained again: the details may show another product since (a "Goes with" card, a map point, Cancel)
            grid.current_clicked.connect(lambda grid=grid: self._current_changed(grid.currentIndex(), None))
            grid.thumb_key.connect(self._thumb)
            for text, up in ((self.tr("More like this\t+"), True), (self.tr("Less like this\t-"), False)):
                action = QAction(text, grid)
                action.triggered.connect(lambda _=False, up=up: self._thumb(up))
                grid.addAction(action)
        buttons = QHBoxLayout()
        buttons.addWidget(self.empty, 1)
        buttons.addStretch()  # the buttons stay right while the label is hidden
        buttons.addWidget(self.up)
        buttons.addWidget(self.down)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs, 1)
        layout.addLayout(buttons)
        for grid, text in self._counts.items():
            grid.placeholder = text
        self._show_label()
        self._update_buttons()

    def current_grid(self) -> ResultsGrid | None:
        """The shown tab's grid; None on a tab that is not a list of results (Insights)."""
        widget = self.tabs.currentWidget()
        return widget if isinstance(widget, ResultsGrid) else None

    def _tab_changed(self, _index: int) -> None:
        self.empty.setText(self._counts.get(self.tabs.currentWidget(), ""))
        self._show_label()
        self._update_buttons()

    def _show_label(self) -> None:
        """The count beside the buttons; an empty grid says its message in its middle instead (a long reason
        squeezed beside the buttons took the grid's height, a word a line)."""
        grid = self.current_grid()
        self.empty.setVisible(grid is None or bool(grid.model().rowCount()))

    def set_similar(self, rows, empty: str | None = None, scope: str = "") -> None:
        """``empty``: what the tab says without rows (default: the ``NoResults``' reason, else that the filters left
        nothing); ``scope``: what the results were limited to, said beside their count (a cluster chosen in the
        Insights tab)."""
        self.similar_model.set_rows(rows)
        why = rows.why if isinstance(rows, NoResults) else None
        count = plural(len(rows), "result") if rows else \
            empty or why or self.tr("No results: loosen the filters or the relevance threshold.")
        self._set_count(self.similar, f"{count} · {scope}" if scope else count)
        self._update_buttons()

    def set_goes_with(self, rows, empty: str | None = None) -> None:
        """``empty``: what the tab says without rows (default: that nothing goes with the selected product)."""
        from core.complements import KNOWN

        self.goes_with_model.set_rows(rows)
        known = sum(KNOWN in r.parts for r in rows)
        self._set_count(self.goes_with, self.tr("%n bought with it", "", known) + ", "
                        + self.tr("%n predicted", "", len(rows) - known) if rows
                        else empty or self.tr("Nothing goes with it yet"))

    def _set_count(self, grid, text: str) -> None:
        self._counts[grid] = text
        grid.placeholder = "" if grid.model().rowCount() else text
        grid.viewport().update()
        if self.current_grid() is grid:
            self.empty.setText(text)
            self._show_label()

    def keep_current(self, pk: int) -> None:
        """Only a card of ``pk`` stays highlighted: another product explained (a "Goes with" card, a point of the map)
        left the card before highlighted beside its details. It stays current, unhighlighted (no current card, the
        grid made its first one current, and explained it, when it next got the focus); a click explains it again."""
        for grid in (self.similar, self.goes_with):
            index = grid.currentIndex()
            if index.isValid() and index.data(PkRole) != pk:
                grid.selectionModel().clearSelection()
        self._update_buttons()

    def current_row(self):
        """The shown tab's highlighted card (None: none; a current card no longer highlighted is not the one
        explained, and "more / less like this" must not take it)."""
        grid = self.current_grid()
        index = grid.currentIndex() if grid is not None else None
        selected = index is not None and index.isValid() and grid.selectionModel().isSelected(index)
        return index.model().row_at(index.row()) if selected else None

    def _current_changed(self, current, previous) -> None:
        grid = self.similar if current.model() is self.similar_model else self.goes_with
        if current.isValid() and grid.focusing and not previous.isValid():  # made current by the focus alone
            self._update_buttons()
            return
        if current.isValid():  # the card explained is the one highlighted (focus coming in makes a card current only)
            grid.selectionModel().select(current, QItemSelectionModel.ClearAndSelect)
        self._update_buttons()
        if current.isValid():
            self.selected.emit(int(current.data(PkRole)))

    def _thumb(self, up: bool) -> None:
        row = self.current_row()
        if row is not None:
            self.thumbs.emit(row.pk, row.title, up)

    def _update_buttons(self) -> None:
        has = self.current_row() is not None
        self.up.setEnabled(has)
        self.down.setEnabled(has)
