"""Insights: a cluster browser and a zoomable embedding map of thumbnails.

Clicking a cluster filters the results to it; clicking a point on the map selects that product;
the map is coloured by cluster or by an attribute (a category field, or one with a few values),
outlines the best results and marks where the query falls among them. Clusters and maps are
computed in a worker and cached in the catalog.
"""
from __future__ import annotations

from collections import Counter
from html import escape

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, QSizeF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QIcon, QImage, QPainter, QPalette, QPen, QPixmap
from PySide6.QtWidgets import (QComboBox, QGraphicsEllipseItem, QGraphicsItem, QGraphicsItemGroup, QGraphicsLineItem,
                               QGraphicsPixmapItem, QGraphicsScene, QGraphicsView, QHBoxLayout, QLabel, QListWidget,
                               QListWidgetItem, QPushButton, QSplitter, QVBoxLayout, QWidget)

from core.catalog import field_label
from gui import plural

# Tableau 10 and two more: neighbouring entries differ in hue and lightness (evenly spaced hues did not:
# the fourth and fifth values of a field were two greens)
PALETTE = [QColor(c) for c in ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
                               "#9c755f", "#499894", "#d37295", "#a0cbe8")]
OTHER = QColor("lightgray")  # HDBSCAN's noise, and the values past the palette when colouring by a field
SCALE = 600.0
THUMB_SIDE = 28  # a thumbnail on the map, in scene units (the map is SCALE wide)
QUERY_NEIGHBOURS = 5  # the query is placed among this many of its best results
OUTLINED = 20  # the best results outlined on the map (all 200 would hide the map under rings)
CLUSTER = "cluster"  # the "colour by" entry that colours by cluster
# what the user reads, for the methods' internal names (core's, the command line's)
METHOD_NAMES = {"kmeans": "KMeans", "hdbscan": "HDBSCAN"}
MAP_NAMES = {"pca": "PCA", "tsne": "t-SNE"}
# the rings around the best results: a vivid magenta, in no palette colour and not the query's red, edged in
# black, reads on white thumbnails and on dark ones and on either theme's background (a ring in the theme's
# text colour alone, white in dark mode, vanished on the white thumbnails)
RING = QColor(230, 0, 170)
RING_EDGE = QColor(0, 0, 0)
SWATCH = 12  # the cluster list's dots, in pixels


def query_position(positions: dict[int, QPointF], results: list[tuple[int, float]]) -> QPointF | None:
    """Where the query falls on the map: the mean of its best results' positions, weighted by their scores
    (a map has no place of its own for a text or a photo that is not in the catalog; a t-SNE map cannot
    place new points at all). None when no result is on the map."""
    placed = [(positions[pk], max(score, 0.0) + 1e-6) for pk, score in results if pk in positions][:QUERY_NEIGHBOURS]
    if not placed:
        return None
    total = sum(w for _, w in placed)
    return QPointF(sum(p.x() * w for p, w in placed) / total, sum(p.y() * w for p, w in placed) / total)


def swatch(colour: QColor | None) -> QIcon:
    """A dot in a cluster's map colour, beside its name (None: a blank one, to align "All products"). The name
    itself is in the list's text colour: names in the palette's colours read 2.7:1 on a white list, and
    darkened or lightened enough to read they no longer matched their dots (a pink turned red)."""
    pm = QPixmap(SWATCH, SWATCH)
    pm.fill(Qt.transparent)
    if colour is not None:
        p = QPainter(pm)
        p.setRenderHint(QPainter.Antialiasing)
        p.setPen(QPen(QColor(0, 0, 0, 90), 1))  # the lightest palette colours, on a white list
        p.setBrush(colour)
        p.drawEllipse(QRectF(0.5, 0.5, SWATCH - 1, SWATCH - 1))
        p.end()
    return QIcon(pm)


def cluster_colours(clusters) -> dict[int, QColor]:
    """label -> colour: the largest clusters get the palette's colours, the others grey, as the values of a field
    past the palette (colouring by label modulo the palette gave 40 clusters 12 colours: 3 or 4 clusters each)."""
    ranked = sorted(clusters, key=lambda c: (-c.size, c.label))
    return {c.label: PALETTE[i] if i < len(PALETTE) else OTHER for i, c in enumerate(ranked)}


def value_colours(values: dict[int, str]) -> tuple[dict[int, QColor], list[tuple[str, QColor]]]:
    """(pk -> colour, legend): the most common values get the palette's colours (alphabetically among equally
    common ones), the rest grey; the legend says how many values are grey."""
    counts = Counter(values.values())
    common = sorted(counts, key=lambda v: (-counts[v], v))[:len(PALETTE)]
    colour_of = {v: PALETTE[i] for i, v in enumerate(common)}
    legend = [(v, colour_of[v]) for v in common]
    if len(counts) > len(common):
        rest = len(counts) - len(common)
        legend.append((f"{rest} other" if rest == 1 else f"{rest} others", OTHER))
    return {pk: colour_of.get(v, OTHER) for pk, v in values.items()}, legend


LEGEND_CHARS = 32  # a legend value longer than this is cut with "…"


class MapView(QGraphicsView):
    clicked = Signal(int)  # pk

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHint(QPainter.SmoothPixmapTransform)
        self.setRenderHint(QPainter.Antialiasing)
        self.setDragMode(QGraphicsView.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.AnchorUnderMouse)
        self.items: dict[int, QGraphicsEllipseItem] = {}
        self._shown = None  # the map drawn: (pks, xy, titles, pks with thumbnails)
        self.positions: dict[int, QPointF] = {}
        self.query_marker: QGraphicsItemGroup | None = None
        self.rings: list[QGraphicsEllipseItem] = []
        self.outlined: set[int] = set()  # the dots outlined as results now
        self.extent = QRectF()  # the points and their thumbnails, in scene units
        self.fitted = None  # the transform that fitted the whole map: still that one, the map is fitted again on resize
        self.guide = QLabel(self.viewport(), wordWrap=True, alignment=Qt.AlignCenter)  # said while no map
        # the items' Python wrappers go before Qt deletes the items with the view: a wrapper that outlived its item
        # (the view's Python object kept a while longer) was handed out for a new object at the same address (a
        # window's selection model came back as the query marker's QGraphicsItemGroup: an AttributeError, or a crash)
        self.destroyed.connect(lambda *_, refs=self.__dict__: refs.update(
            items={}, rings=[], query_marker=None, outlined=set(), positions={}))

    def clear(self) -> None:
        self._shown = None
        self.scene().clear()
        self.scene().setSceneRect(QRectF())  # back to growing with what is drawn
        self.items, self.positions, self.query_marker, self.rings, self.outlined = {}, {}, None, [], set()
        self.extent, self.fitted = QRectF(), None
        self.guide.show()

    def wheelEvent(self, event) -> None:
        factor = 1.25 if event.angleDelta().y() > 0 else 0.8
        self.scale(factor, factor)

    def resizeEvent(self, event) -> None:
        """Fitted again when the view changes size, unless zoomed into: the legend appearing below it (colouring
        by a field) took two lines off a map fitted before, which then scrolled and lost its bottom."""
        super().resizeEvent(event)
        self.guide.setGeometry(self.viewport().rect().adjusted(24, 24, -24, -24))
        if self.fitted is not None and self.transform() == self.fitted:
            self._fit()

    def _fit(self) -> None:
        self.fitInView(self.extent, Qt.KeepAspectRatio)
        self.fitted = self.transform()

    def show_points(self, pks, xy, colours: dict[int, QColor], thumbnails: dict[int, QImage],
                    titles: dict[int, str] | None = None) -> None:
        """``thumbnails``: decoded and scaled to THUMB_SIDE already (``gui.backend.insights`` does it off this
        thread: decoding 3,000 of them here took half a second)."""
        titles = titles or {}
        shown = self._shown
        if shown is not None and self.items and np.array_equal(shown[0], pks) and np.array_equal(shown[1], xy) \
                and shown[2] == titles and shown[3] == thumbnails.keys():
            # the same map, clustered otherwise: only the colours change (building its 15,000 items again froze
            # the window 0.3-1 s on H&M)
            self.recolour(colours)
            return
        scene = self.scene()
        self.clear()
        self.guide.hide()
        self._shown = (np.array(pks), np.array(xy), dict(titles), set(thumbnails))
        lo, hi = xy.min(axis=0), xy.max(axis=0)
        span = (hi - lo).max() or 1.0
        for pk, (x, y) in zip(pks, (xy - lo) / span * SCALE):
            pk, x, y = int(pk), float(x), float(y)
            tip = titles.get(pk) or str(pk)
            thumb = thumbnails.get(pk)
            if thumb is not None:
                item = QGraphicsPixmapItem(QPixmap.fromImage(thumb))
                item.setOffset(x - thumb.width() / 2, y - thumb.height() / 2)
                item.setData(0, pk)
                item.setToolTip(tip)
                scene.addItem(item)
            dot = scene.addEllipse(QRectF(x - 4, y - 4, 8, 8), QPen(Qt.NoPen), QBrush(colours.get(pk, OTHER)))
            dot.setData(0, pk)
            dot.setToolTip(tip)
            dot.setZValue(1)
            self.items[pk] = dot
            self.positions[pk] = QPointF(x, y)
        self.extent = scene.itemsBoundingRect()
        scene.setSceneRect(self.extent)  # not grown by a query marker near the edge: no scroll bars when fitted
        self._fit()

    def recolour(self, colours: dict[int, QColor]) -> None:
        for pk, dot in self.items.items():
            dot.setBrush(QBrush(colours.get(pk, OTHER)))

    def highlight(self, pks) -> None:
        """Each result ringed twice: in the theme's text colour against its dot, then in RING edged in black."""
        wanted = {int(p) for p in pks} & self.items.keys()
        inner = QPen(self.palette().color(QPalette.Text), 3)  # black on a light map, white on a dark one
        for ring in self.rings:
            self.scene().removeItem(ring)
        self.rings = []
        # only the dots that change: every search set the pen of all 11,800 (50-100 ms, the tab hidden or not)
        for pk in self.outlined - wanted:
            self.items[pk].setPen(QPen(Qt.NoPen))
            self.items[pk].setZValue(1)
        for pk in wanted:
            dot = self.items[pk]
            dot.setPen(inner)
            dot.setZValue(2)
            self.rings.append(self._ring(pk, dot))
        self.outlined = wanted

    def _ring(self, pk: int, dot: QGraphicsEllipseItem) -> QGraphicsEllipseItem:
        """A RING-coloured ring edged in black, just outside the dot's inner ring."""
        circle = QRectF(self.positions[pk] - QPointF(7, 7), QSizeF(14, 14))  # the dot's radius is 4, its ring's 5.5
        outer = self.scene().addEllipse(circle, QPen(RING_EDGE, 4))
        core = QGraphicsEllipseItem(circle, outer)
        core.setPen(QPen(RING, 2.5))
        for item in (outer, core):
            item.setData(0, pk)
            item.setToolTip(dot.toolTip())
        outer.setZValue(2)
        return outer

    def mark_query(self, at: QPointF | None) -> None:
        """A red ring with a cross where the query falls (None: no marker)."""
        if self.query_marker is not None:
            self.scene().removeItem(self.query_marker)
            self.query_marker = None
        if at is None:
            return
        pen = QPen(QColor(220, 30, 30), 3)
        ring = QGraphicsEllipseItem(QRectF(-11, -11, 22, 22))
        ring.setPen(pen)
        parts = [ring, QGraphicsLineItem(-16, 0, 16, 0), QGraphicsLineItem(0, -16, 0, 16)]
        for line in parts[1:]:
            line.setPen(pen)
        group = self.scene().createItemGroup(parts)
        group.setPos(at)
        group.setFlag(QGraphicsItem.ItemIgnoresTransformations)  # the same size on screen at any zoom
        group.setZValue(3)
        group.setToolTip(self.tr("Your query, placed among its %d best results") % QUERY_NEIGHBOURS)
        self.query_marker = group

    def mousePressEvent(self, event) -> None:
        item = self.itemAt(event.position().toPoint())
        if item is not None and item.data(0) is not None:
            self.clicked.emit(int(item.data(0)))
        super().mousePressEvent(event)


class InsightsPanel(QWidget):
    cluster_chosen = Signal(object)  # tuple of pks, or None for "all"
    product_clicked = Signal(int)
    compute = Signal(str, str)  # clustering method, map method

    def __init__(self, parent=None):
        super().__init__(parent)
        self.method = QComboBox()
        for value, name in METHOD_NAMES.items():
            self.method.addItem(name, value)
        self.map_method = QComboBox()
        for value, name in MAP_NAMES.items():
            self.map_method.addItem(name, value)
        self.run_button = QPushButton(self.tr("Compute"))
        self.run_button.clicked.connect(lambda: self.compute.emit(self.method.currentData(),
                                                                  self.map_method.currentData()))
        self.colour_by = QComboBox()
        self.colour_by.setSizeAdjustPolicy(QComboBox.AdjustToContents)
        self.colour_by.addItem(self.tr("cluster"), CLUSTER)
        self.colour_by.currentIndexChanged.connect(self._recolour)
        self.quality = QLabel(wordWrap=True)
        self.quality.setToolTip(self.tr(
            "Silhouette, from -1 to 1: how much closer products are to their own cluster than to the next one;"
            " higher is better separated (below about 0.25 the clusters overlap a lot).\n"
            "Davies-Bouldin, from 0 up: how wide the clusters are for the distance between them;"
            " lower is better separated."))
        # in plain words, on one line: two lines of it hid two clusters of a list in the window's middle column
        self.scores_gloss = QLabel(self.tr("Better separated clusters: higher silhouette (-1 to 1), lower"
                                           " Davies-Bouldin"), wordWrap=True)
        self.scores_gloss.setToolTip(self.quality.toolTip())
        self.scores_gloss.hide()
        self.list = QListWidget()
        self.list.setIconSize(QSize(SWATCH, SWATCH))
        self.list.currentItemChanged.connect(self._chosen)
        self.map = MapView()
        self.map.clicked.connect(self.product_clicked)
        self.map.guide.setText(self.tr(
            "Compute groups the products into clusters and draws them on a map where similar products lie close"
            " together. Then click a cluster to see only its products, or a thumbnail to select that product.\n\n"
            "KMeans makes a set number of clusters; HDBSCAN finds dense groups and leaves the rest grey.\n"
            "A PCA map takes a few seconds; a t-SNE map keeps neighbours closer together but takes longer"
            " (about a minute for 10,000 products)."))
        self.legend = QLabel(wordWrap=True)
        self.legend.setTextFormat(Qt.RichText)
        controls = QHBoxLayout()
        for w in (QLabel(self.tr("Clusters")), self.method, QLabel(self.tr("Map")), self.map_method, self.run_button):
            controls.addWidget(w)
        controls.addStretch(1)
        colouring = QHBoxLayout()  # above the map it colours: in one row with the rest, the tab was 490 px at least
        colouring.addWidget(QLabel(self.tr("Colour by")))
        colouring.addWidget(self.colour_by)
        colouring.addStretch(1)
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.addWidget(self.quality)
        lv.addWidget(self.scores_gloss)
        lv.addWidget(self.list)
        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(0, 0, 0, 0)
        rv.addLayout(colouring)
        rv.addWidget(self.map, 1)
        rv.addWidget(self.legend)
        self.split = split = QSplitter(Qt.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(1, 3)
        split.setSizes([270, 600])
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(split, 1)
        self.clustering = None
        self.attributes: dict[str, dict[int, str]] = {}
        self.chosen_cluster = None  # the Cluster the results are limited to, or None

    def clear(self) -> None:
        """Nothing shown: another catalog was opened (or this one imported again), whose products the clusters
        and the map do not describe."""
        limited = self.chosen_cluster is not None
        self.clustering, self.attributes, self.chosen_cluster = None, {}, None
        self.list.blockSignals(True)
        self.list.clear()
        self.list.blockSignals(False)
        self.quality.clear()
        self.scores_gloss.hide()
        self.map.clear()
        self._show_legend([])
        if limited:
            self.cluster_chosen.emit(None)

    def resizeEvent(self, event) -> None:
        """The cluster list beside the map when the tab is wide, above it when it is tall (the window's middle
        column): the map, about square, then gets the whole width instead of a narrow strip."""
        super().resizeEvent(event)
        wanted = Qt.Horizontal if self.width() >= self.height() else Qt.Vertical
        if self.split.orientation() != wanted:
            self.split.setOrientation(wanted)
            whole = self.width() if wanted == Qt.Horizontal else self.height()
            first = min(300, whole // 3) if wanted == Qt.Horizontal else min(220, whole // 3)
            self.split.setSizes([first, whole - first])

    def show_insights(self, data) -> None:
        """``data``: a ``gui.backend.Insights``."""
        q = self.clustering = data.clustering
        self.attributes = data.attributes
        limited, self.chosen_cluster = self.chosen_cluster is not None, None
        self.list.blockSignals(True)
        self.list.clear()
        all_item = QListWidgetItem(swatch(None), self.tr("All products"))
        all_item.setData(Qt.UserRole, None)
        self.list.addItem(all_item)
        colour_of = cluster_colours(q.clusters)
        text = self.list.palette().color(QPalette.Text)
        for c in sorted(q.clusters, key=lambda c: (-c.size, c.label)):
            item = QListWidgetItem(swatch(colour_of[c.label]), f"{c.name}  ({c.size})")
            item.setToolTip(", ".join(f"{field_label(f)}: {v} ×{lift}" for f, v, lift in c.attributes)
                            + "\n" + ", ".join(c.words))
            item.setData(Qt.UserRole, c.label)
            item.setForeground(text)
            self.list.addItem(item)
        self.list.setCurrentRow(0)
        self.list.blockSignals(False)
        noise = int((q.labels < 0).sum())  # HDBSCAN leaves the products of no dense region out
        self.quality.setText(plural(len(q.clusters), "cluster") + self.tr(" · silhouette %s · Davies-Bouldin %s") % (
            f"{q.silhouette:.3f}" if q.silhouette is not None else "—",
            f"{q.davies_bouldin:.3f}" if q.davies_bouldin is not None else "—")
            + (" · " + plural(noise, "product") + self.tr(" in no cluster (grey)") if noise else ""))
        self.scores_gloss.setVisible(q.silhouette is not None or q.davies_bouldin is not None)
        # what is shown, when it was asked for elsewhere (a script)
        self.method.setCurrentIndex(max(self.method.findData(q.method), 0))
        self.map_method.setCurrentIndex(max(self.map_method.findData(data.map_method), 0))
        chosen = self.colour_by.currentData()
        self.colour_by.blockSignals(True)
        self.colour_by.clear()
        self.colour_by.addItem(self.tr("cluster"), CLUSTER)
        for f in self.attributes:
            self.colour_by.addItem(field_label(f), f)  # the column as people read it
        self.colour_by.setCurrentIndex(max(self.colour_by.findData(chosen), 0))
        self.colour_by.blockSignals(False)
        colours, legend = self._colours()
        self.map.show_points(data.pks, data.xy, colours, data.thumbnails, data.titles)
        self._show_legend(legend)
        if limited:  # the old clusters are gone: so is the limit to one of them
            self.cluster_chosen.emit(None)

    def _colours(self) -> tuple[dict[int, QColor], list[tuple[str, QColor]]]:
        by = self.colour_by.currentData()
        if by in self.attributes:
            return value_colours(self.attributes[by])
        q = self.clustering
        colour_of = cluster_colours(q.clusters)
        colours = {int(p): colour_of.get(int(label), OTHER) for p, label in zip(q.pks, q.labels)}
        return colours, []  # the cluster list, in the same colours, is the legend

    def _recolour(self) -> None:
        if self.clustering is None:
            return
        colours, legend = self._colours()
        self.map.recolour(colours)
        self._show_legend(legend)

    def _show_legend(self, legend: list[tuple[str, QColor]]) -> None:
        # each value cut at LEGEND_CHARS (whole in the tooltip): a 150-character value widened the window past the
        # screen, its label's minimum width that of the value, which has no space to wrap at
        from explain.facts import shortened

        self.legend.setText(" ".join(f'<span style="color:{c.name()}">■</span>&nbsp;'
                                     f'{escape(shortened(v, LEGEND_CHARS))}' for v, c in legend))
        self.legend.setToolTip("\n".join(v for v, _ in legend if len(v) > LEGEND_CHARS))
        self.legend.setVisible(bool(legend))

    def show_results(self, results: list[tuple[int, float]], mark_query: bool = True) -> None:
        """Outline the best results on the map and mark the query among them ((pk, score), best first)."""
        self.map.highlight([pk for pk, _ in results[:OUTLINED]])
        self.map.mark_query(query_position(self.map.positions, results) if mark_query else None)

    def _chosen(self, current, _previous) -> None:
        if current is None or self.clustering is None:
            return
        label = current.data(Qt.UserRole)
        self.chosen_cluster = None if label is None else next(c for c in self.clustering.clusters if c.label == label)
        self.cluster_chosen.emit(None if label is None else self.clustering.members(label))
