"""Small views of explanation data: deletion/insertion curves, highlighted words, a photo with its heatmap."""
from __future__ import annotations

import html

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPainterPath, QPalette, QPen, QPixmap
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

CURVE_COLOURS = {"deletion": QColor(220, 60, 60), "insertion": QColor(40, 140, 220)}  # the lines'
TEXT_CONTRAST = 4.5  # WCAG AA for normal text


def contrast(a, b) -> float:
    """WCAG contrast ratio of two colours (QColors or (r, g, b)), 1 to 21."""
    hi, lo = sorted((_luminance(_rgb(a)), _luminance(_rgb(b))), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def with_contrast(colour: QColor, background: QColor, ratio: float = TEXT_CONTRAST) -> QColor:
    """``colour`` darkened on a light background, lightened on a dark one, just enough to read as text on it
    (its hue and saturation kept, so that a caption still matches the line drawn in ``colour``)."""
    towards_black = contrast((0, 0, 0), background) >= contrast((255, 255, 255), background)
    h, s, lightness, a = colour.getHslF()
    out = QColor(colour)
    while contrast(out, background) < ratio and 0 < lightness < 1:
        lightness = max(lightness - 0.01, 0.0) if towards_black else min(lightness + 0.01, 1.0)
        hsl = QColor.fromHslF(max(h, 0.0), s, lightness, a)  # h is -1 for greys
        out = QColor(hsl.red(), hsl.green(), hsl.blue(), hsl.alpha())  # 8-bit RGB, as painted and compared
    return out


def caption_colour(name: str, background: QColor) -> QColor:
    """A curve's caption colour: its line's, made readable as text on ``background`` (the red read 3.2:1 on
    the dark theme's window, 3.8:1 on the light one's)."""
    return with_contrast(CURVE_COLOURS[name], background)


def curve_captions(c) -> dict[str, str]:
    """One line per curve. Its area is given on the similarity's own range (0: the fully blurred photo's,
    1: the intact one's), as the curves are drawn: raw areas of a cosine read "-0.006 (random 0.002)"."""
    if c.measurable:
        return {"deletion": f"deletion AUC {c.deletion_auc_normalised:.2f} (random "
                            f"{c.random_deletion_auc_normalised:.2f}), lower is better",
                "insertion": f"insertion AUC {c.insertion_auc_normalised:.2f} (random "
                             f"{c.random_insertion_auc_normalised:.2f}), higher is better"}
    return {"deletion": f"deletion AUC {c.deletion_auc:.3f} (random {c.random_deletion_auc:.3f})",
            "insertion": f"insertion AUC {c.insertion_auc:.3f} (random {c.random_insertion_auc:.3f})"}


class CurvesWidget(QWidget):
    """Deletion and insertion curves (solid) against random orders (dashed, their mean), x = share of patches."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.curves = None
        self.missing: str | None = None  # what the empty chart says
        self.setMinimumSize(QSize(220, 140))
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Preferred)
        self.setToolTip(self.tr(
            "The similarity as the photo's regions are blurred in the heatmap's order, most important first "
            "(deletion), or revealed (insertion); dashed: random orders. Areas are on the similarity's own range: "
            "0 is the fully blurred photo's, 1 the intact one's (a partly blurred photo may score above the intact "
            "one, e.g. with a busy background blurred away: an area above 1)."))

    def set_curves(self, curves, missing: str | None = None) -> None:
        """``missing``: what the empty chart says when there are no curves (default: none yet)."""
        self.curves = curves
        self.missing = missing
        self.update()

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing)
        pal = self.palette()
        area = QRectF(self.rect()).adjusted(30, 8, -8, -2 - 2 * self.fontMetrics().height())
        p.setPen(pal.color(QPalette.Mid))
        p.drawRect(area)
        p.setPen(pal.color(QPalette.Text))
        if self.curves is None:
            p.drawText(area, Qt.AlignCenter, self.missing or self.tr("No curves yet"))
            return
        c = self.curves
        ys = [*c.deletion, *c.insertion, *c.random_deletion, *c.random_insertion]
        lo, hi = min(ys), max(ys)
        span = (hi - lo) or 1.0

        def path(values) -> QPainterPath:
            pts = [QPointF(area.left() + x * area.width(), area.bottom() - (y - lo) / span * area.height())
                   for x, y in zip(c.fractions, values)]
            out = QPainterPath(pts[0])
            for pt in pts[1:]:
                out.lineTo(pt)
            return out

        for name, colour in CURVE_COLOURS.items():
            p.setPen(QPen(colour, 2))
            p.drawPath(path(getattr(c, name)))
            p.setPen(QPen(colour, 1, Qt.DashLine))
            p.drawPath(path(getattr(c, f"random_{name}")))
        # one line per curve, in its colour (the legend too), so that a narrow panel does not cut them off
        line = self.fontMetrics().height()
        for row, (name, text) in enumerate(curve_captions(c).items()):
            p.setPen(caption_colour(name, pal.color(QPalette.Window)))
            box = QRectF(4, area.bottom() + 1 + row * line, self.width() - 8, line)
            p.drawText(box, Qt.AlignLeft, self.fontMetrics().elidedText(text, Qt.ElideRight, int(box.width())))


DARK_BASE = (45, 45, 45)  # about the dark theme's base colour, under the words' highlights


def _rgb(colour) -> tuple[int, int, int]:
    return (colour.red(), colour.green(), colour.blue()) if isinstance(colour, QColor) else tuple(colour)


def _luminance(rgb) -> float:
    """WCAG relative luminance of an sRGB colour."""
    def linear(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (linear(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def readable_on(background) -> str:
    """#111 or #f0f0f0, whichever contrasts more with ``background`` (an (r, g, b) a highlight blends to)."""
    lum = _luminance(background)
    dark, light = _luminance((17, 17, 17)), _luminance((240, 240, 240))
    return "#111" if (lum + 0.05) / (dark + 0.05) >= (light + 0.05) / (lum + 0.05) else "#f0f0f0"


def words_html(explanation, dark: bool = False) -> str:
    """Words with a background whose strength follows their attribution (red for, blue against).
    Catalog text is escaped: a title like <script> shows as text."""
    if explanation is None or not len(explanation.tokens):
        return ""
    values = list(explanation.values)
    top = max(abs(v) for v in values) or 1.0
    spans = []
    for word, v in zip(explanation.tokens, values):
        a = min(abs(v) / top, 1.0)
        rgb = (230, 80, 60) if v >= 0 else (70, 130, 230)
        text_colour = readable_on(tuple(round(b * (1 - a) + c * a) for b, c in zip(DARK_BASE if dark else
                                                                                    (255, 255, 255), rgb)))
        spans.append(f'<span style="background: rgba({rgb[0]},{rgb[1]},{rgb[2]},{a:.2f}); color: {text_colour};'
                     f' padding: 1px 2px;" title="{v:+.3f}">{html.escape(word)}</span>')
    return " ".join(spans)


def pil_to_pixmap(image) -> QPixmap:
    rgb = image.convert("RGB")
    data = rgb.tobytes()
    qimage = QImage(data, rgb.width, rgb.height, 3 * rgb.width, QImage.Format_RGB888)
    return QPixmap.fromImage(qimage.copy())  # copy: the bytes object does not outlive this call


def show_fitted(label: QLabel, source: QPixmap, margin: int = 0) -> None:
    """``source`` scaled to fit ``label`` (less ``margin`` pixels), device-pixel-ratio aware: crisp on high-DPI."""
    ratio = label.devicePixelRatioF()
    scaled = source.scaled((label.size() - QSize(margin, margin)) * ratio, Qt.KeepAspectRatio, Qt.SmoothTransformation)
    scaled.setDevicePixelRatio(ratio)
    label.setPixmap(scaled)


class PhotoView(QLabel):
    """A photo scaled to fit, device-pixel-ratio aware so heatmaps stay crisp on high-DPI screens."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setAlignment(Qt.AlignCenter)
        self.setMinimumSize(QSize(200, 200))
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        self.setFixedHeight(260)
        self._source: QPixmap | None = None

    def set_image(self, image) -> None:
        self._source = pil_to_pixmap(image) if image is not None else None
        self._refit()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._refit()

    def _refit(self) -> None:
        if self._source is None:
            self.setPixmap(QPixmap())
            return
        show_fitted(self, self._source)
