"""Paints a result: thumbnail, a score badge and its title in the lines below, the last elided with "…"."""
from __future__ import annotations

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPalette, QTextLayout, QTextOption
from PySide6.QtWidgets import QStyle, QStyledItemDelegate

from gui.results_model import BadgeRole

TILE = QSize(168, 214)
THUMB = 150


def title_lines(text: str, font: QFont, width: int, max_lines: int) -> list[str]:
    """``text`` wrapped at words into at most ``max_lines`` lines of ``width`` pixels, the last ending in "…"
    when the title goes on (a long title was cut through its third line; the card's tooltip has it whole)."""
    layout = QTextLayout(text, font)
    option = QTextOption()
    option.setWrapMode(QTextOption.WrapAtWordBoundaryOrAnywhere)  # a word longer than the card: cut anywhere
    layout.setTextOption(option)
    lines = []
    layout.beginLayout()
    while len(lines) < max(max_lines, 1):
        line = layout.createLine()
        if not line.isValid():
            break
        line.setLineWidth(width)
        lines.append((line.textStart(), line.textLength()))
    more = layout.createLine().isValid()
    layout.endLayout()
    out = [text[start:start + length].strip() for start, length in lines]
    if more and lines:
        rest = text[lines[-1][0]:].strip()
        out[-1] = QFontMetrics(font).elidedText(rest, Qt.ElideRight, width)
    return out


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
        painter.setFont(option.font)
        text_rect = QRect(rect.x() + 4, thumb.bottom() + 6, rect.width() - 8, rect.bottom() - thumb.bottom() - 6)
        step = option.fontMetrics.lineSpacing()
        title = index.data(Qt.DisplayRole) or ""
        for row, line in enumerate(title_lines(title, option.font, text_rect.width(), text_rect.height() // step)):
            painter.drawText(QRect(text_rect.x(), text_rect.y() + row * step, text_rect.width(), step),
                             Qt.AlignTop | Qt.AlignHCenter, line)
        painter.restore()
