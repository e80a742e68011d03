"""The results grid's item model: one row per search hit, thumbnails decoded once and cached."""
from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QPixmap

PkRole = Qt.UserRole + 1
ScoreRole = Qt.UserRole + 2
PartsRole = Qt.UserRole + 3
BadgeRole = Qt.UserRole + 4


class NoResults(list):
    """No results, and why (said below the grid in place of "loosen the filters", which was wrong for an empty
    catalog or two choices that exclude each other)."""

    def __init__(self, why: str):
        super().__init__()
        self.why = why


class NotedResults(list):
    """Results, and what must be said beside their count (a query text the text model reads nothing of)."""

    def __init__(self, rows, note: str):
        super().__init__(rows)
        self.note = note


@dataclass(frozen=True)
class ResultRow:
    pk: int
    sku: str
    title: str
    score: float
    parts: dict[str, float]
    thumbnail: bytes | None
    badge: str = ""  # what the badge says when not the score (e.g. "bought" for a known co-purchase)
    why: str = ""  # the tooltip's account of the score when not its parts


class ResultsModel(QAbstractListModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self._rows: list[ResultRow] = []
        self._pixmaps: dict[int, QPixmap] = {}

    def set_rows(self, rows: list[ResultRow]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self._pixmaps.clear()
        self.endResetModel()

    def row_at(self, row: int) -> ResultRow:
        return self._rows[row]

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        r = self._rows[index.row()]
        if role == Qt.DisplayRole:
            return r.title
        if role == Qt.ToolTipRole:
            if r.why:
                return f"{r.title}\nid {r.sku} - {r.why}"
            parts = ", ".join(f"{k} {v:.3f}" for k, v in r.parts.items())
            return f"{r.title}\nid {r.sku} - score {r.score:.3f} ({parts})"
        if role == Qt.DecorationRole:
            return self._pixmap(r)
        if role == PkRole:
            return r.pk
        if role == ScoreRole:
            return r.score
        if role == BadgeRole:
            return r.badge or f"{r.score:.2f}"
        if role == PartsRole:
            return dict(r.parts)
        return None

    def _pixmap(self, r: ResultRow) -> QPixmap:
        pm = self._pixmaps.get(r.pk)
        if pm is None:
            pm = QPixmap()
            if r.thumbnail:
                pm.loadFromData(r.thumbnail)
            self._pixmaps[r.pk] = pm
        return pm
