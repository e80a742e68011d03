"""Filters: a combo per category field, price range, minimum rating, relevance threshold."""
from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QComboBox, QCompleter, QDoubleSpinBox, QFormLayout, QWidget

from core.catalog import field_label

ANY = "—"
SETTLE_MS = 400


@dataclass(frozen=True)
class FilterState:
    categories: dict[str, tuple[str, ...]] = field(default_factory=dict)
    price_min: float | None = None
    price_max: float | None = None
    rating_min: float | None = None
    min_score: float | None = None
    pks: tuple[int, ...] | None = None  # a cluster chosen in the insights panel


SEARCHABLE = 40  # a field with more values than this is searched by typing (6,687 codes were a list to scroll)


def searchable(combo: QComboBox) -> None:
    """Typing in ``combo`` lists the values that contain the typed text; what matches none is undone on leaving."""
    combo.setEditable(True)
    combo.setInsertPolicy(QComboBox.NoInsert)
    completer = combo.completer()
    completer.setFilterMode(Qt.MatchContains)
    completer.setCaseSensitivity(Qt.CaseInsensitive)
    completer.setCompletionMode(QCompleter.PopupCompletion)
    combo.lineEdit().setPlaceholderText(combo.tr("type to search"))
    combo.lineEdit().editingFinished.connect(lambda: combo.setEditText(combo.itemText(combo.currentIndex())))
    typing = _TypeAfterAny(combo)
    combo.installEventFilter(typing)  # the focus comes to the box (a click, a Tab), which hands it to its line
    combo.lineEdit().installEventFilter(typing)


class _TypeAfterAny(QObject):
    """A click into a searchable box showing "—" (any value) empties it: typing "70601" read "—70601", which
    matched nothing, and the "type to search" hint never showed."""

    def eventFilter(self, watched, event) -> bool:
        combo = self.parent()
        if event.type() == QEvent.FocusIn and combo.currentIndex() == 0 and combo.lineEdit().text() == ANY:
            combo.lineEdit().clear()
        return False


class FiltersPanel(QWidget):
    changed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.form = QFormLayout(self)
        self.combos: dict[str, QComboBox] = {}
        # a number changed by its arrows, the wheel or typing searches once it rests (a search per step or
        # keystroke would pile up); leaving the box searches at once
        self._settle = QTimer(self, singleShot=True, interval=SETTLE_MS)
        self._settle.timeout.connect(self.changed)
        self.price_min = self._spin(0, 1e6, self.tr("any"))
        self.price_max = self._spin(0, 1e6, self.tr("any"))
        self.rating_min = self._spin(0, 5, self.tr("any"), step=0.5)
        self.min_score = self._spin(-1, 1, self.tr("none"), step=0.05, minimum_is_off=-1)
        self.form.addRow(self.tr("Price from"), self.price_min)
        self.form.addRow(self.tr("Price up to"), self.price_max)
        self.form.addRow(self.tr("Rating at least"), self.rating_min)
        self.form.addRow(self.tr("Relevance at least"), self.min_score)

    def _spin(self, lo, hi, off_text, step=1.0, minimum_is_off=None) -> QDoubleSpinBox:
        box = QDoubleSpinBox(minimum=lo, maximum=hi, singleStep=step, decimals=2)
        box.setSpecialValueText(off_text)  # the minimum shows as "any": the filter is off
        box.setValue(lo)
        box.valueChanged.connect(lambda _value: self._settle.start())
        box.editingFinished.connect(self._flush)
        return box

    def _flush(self) -> None:
        if self._settle.isActive():
            self._settle.stop()
            self.changed.emit()

    def set_fields(self, fields: dict[str, list[tuple[str, int]]], keep: bool = False) -> None:
        """Category field -> its (value, count) list, most common first. ``keep``: each field keeps the value chosen
        before, if it still has it (the same catalog opened again), without a ``changed`` signal."""
        chosen = {k: c.currentData() for k, c in self.combos.items()} if keep else {}
        for combo in self.combos.values():
            self.form.removeRow(combo)
        self.combos = {}
        for row, (name, values) in enumerate(fields.items()):
            combo = QComboBox()
            # as wide as the column allows, not as its longest value (one long value widened the whole window)
            combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(6)  # the rest in its tooltip: a 900 px window fits its columns
            combo.addItem(ANY, None)
            for value, count in values:
                combo.addItem(f"{value} ({count})", value)
                combo.setItemData(combo.count() - 1, f"{value} ({count})", Qt.ToolTipRole)
            combo.currentIndexChanged.connect(lambda _i, c=combo: c.setToolTip(c.currentText()))
            if len(values) > SEARCHABLE:
                searchable(combo)
            if chosen.get(name) is not None:
                combo.setCurrentIndex(max(0, combo.findData(chosen[name])))
            combo.currentIndexChanged.connect(self.changed)
            self.form.insertRow(row, field_label(name), combo)
            self.combos[name] = combo

    def state(self) -> FilterState:
        cats = {k: (c.currentData(),) for k, c in self.combos.items() if c.currentData() is not None}

        def value(box: QDoubleSpinBox):
            return None if box.value() == box.minimum() else box.value()

        return FilterState(cats, value(self.price_min), value(self.price_max), value(self.rating_min),
                           value(self.min_score))

    def reset(self) -> None:
        for box in (self.price_min, self.price_max, self.rating_min, self.min_score):
            box.setValue(box.minimum())
        for combo in self.combos.values():
            combo.setCurrentIndex(0)
        self._settle.stop()
        self.changed.emit()
