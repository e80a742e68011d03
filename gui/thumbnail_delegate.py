"""Paints a result: thumbnail, a score badge and two lines of title."""
from __future__ import annotations

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPalette
from PySide6.QtWidgets import QStyle, QStyledItemDelegate

from gui.results_model import BadgeRole

TILE = QSize(168, 214)
THUMB = 150


class ThumbnailDelegate(QStyledItemDelegate):
    def sizeHint(self, option, index) -> QSize:
        return TILE

    def paint(self, painter: QPainter, option, index) -> None:
        painter.save()
        rect = option.rect.adjusted(4, 4, -4, -4)
        pal = option.palette
        if option.state & QStyle.State_Selected:
            painter.fillRect(rect, pal.color(QPalette.Highlight).lighter(160) if pal.color(QPalette.Window).value() > 128
                             else pal.color(QPalette.Highlight).darker(150))
        pm = index.data(Qt.DecorationRole)
        thumb = QRect(rect.x() + (rect.width() - THUMB) // 2, rect.y() + 4, THUMB, THUMB)
        painter.fillRect(thumb, QColor("white"))
        if pm is not None and not pm.isNull():
            scaled = pm.scaled(thumb.size(), Qt.KeepAspectRatio, Qt.SmoothTransformation)
            painter.drawPixmap(thumb.x() + (THUMB - scaled.width()) // 2, thumb.y() + (THUMB - scaled.height()) // 2,
                               scaled)
        text = index.data(BadgeRole)
        if text:
            badge = QRect(thumb.right() - 52, thumb.y() + 4, 48, 20)
            painter.setRenderHint(QPainter.Antialiasing)
            painter.setBrush(QColor(20, 20, 20, 190))
            painter.setPen(Qt.NoPen)
            painter.drawRoundedRect(badge, 6, 6)
            painter.setPen(QColor("white"))
            painter.drawText(badge, Qt.AlignCenter, text)
        painter.setPen(pal.color(QPalette.Text))
        text_rect = QRect(rect.x() + 4, thumb.bottom() + 6, rect.width() - 8, rect.bottom() - thumb.bottom() - 6)
        painter.drawText(text_rect, Qt.TextWordWrap | Qt.AlignTop | Qt.AlignHCenter, index.data(Qt.DisplayRole) or "")
        painter.restore()
