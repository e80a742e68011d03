"""Insights: a cluster browser and a zoomable embedding map of thumbnails.

Clicking a cluster filters the results to it; clicking a point on the map selects that product;
the current results are outlined on the map. Clusters and maps are computed in a worker and
cached in the catalog.
"""
from __future__ import annotations

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (QComboBox, QGraphicsEllipseItem, QGraphicsPixmapItem, QGraphicsScene, QGraphicsView,
                               QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton, QSplitter, QVBoxLayout,
                               QWidget)

PALETTE = [QColor.fromHsv(int(h * 360 / 12), 170, 220) for h in range(12)]
SCALE = 600.0


class MapView(QGraphicsView):
    clicked = Signal(int)  # pk

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHint(QPainter.SmoothPixmapTransform)
        self.setDragMode(QGraphicsView.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.AnchorUnderMouse)
        self.items: dict[int, QGraphicsEllipseItem] = {}

    def wheelEvent(self, event) -> None:
        factor = 1.25 if event.angleDelta().y() > 0 else 0.8
        self.scale(factor, factor)

    def show_points(self, pks, xy, colours: dict[int, QColor], thumbnails: dict[int, bytes]) -> None:
        scene = self.scene()
        scene.clear()
        self.items = {}
        lo, hi = xy.min(axis=0), xy.max(axis=0)
        span = (hi - lo).max() or 1.0
        for pk, (x, y) in zip(pks, (xy - lo) / span * SCALE):
            pk = int(pk)
            thumb = thumbnails.get(pk)
            if thumb:
                pm = QPixmap()
                pm.loadFromData(thumb)
                item = QGraphicsPixmapItem(pm.scaled(28, 28, Qt.KeepAspectRatio, Qt.SmoothTransformation))
                item.setOffset(x - 14, y - 14)
                item.setData(0, pk)
                scene.addItem(item)
            dot = scene.addEllipse(QRectF(x - 4, y - 4, 8, 8), QPen(Qt.NoPen),
                                   QBrush(colours.get(pk, QColor("gray"))))
            dot.setData(0, pk)
            dot.setToolTip(str(pk))
            self.items[pk] = dot
        self.fitInView(scene.itemsBoundingRect(), Qt.KeepAspectRatio)

    def highlight(self, pks) -> None:
        wanted = set(int(p) for p in pks)
        for pk, dot in self.items.items():
            dot.setPen(QPen(QColor("black"), 3) if pk in wanted else QPen(Qt.NoPen))
            dot.setZValue(2 if pk in wanted else 1)

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
        self.method.addItems(["kmeans", "hdbscan"])
        self.map_method = QComboBox()
        self.map_method.addItems(["pca", "tsne"])
        self.run_button = QPushButton(self.tr("Compute"))
        self.run_button.clicked.connect(lambda: self.compute.emit(self.method.currentText(),
                                                                  self.map_method.currentText()))
        self.quality = QLabel(wordWrap=True)
        self.list = QListWidget()
        self.list.currentItemChanged.connect(self._chosen)
        self.map = MapView()
        self.map.clicked.connect(self.product_clicked)
        controls = QHBoxLayout()
        for w in (QLabel(self.tr("Clusters")), self.method, QLabel(self.tr("Map")), self.map_method, self.run_button):
            controls.addWidget(w)
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.addWidget(self.quality)
        lv.addWidget(self.list)
        split = QSplitter(Qt.Horizontal)
        split.addWidget(left)
        split.addWidget(self.map)
        split.setStretchFactor(1, 3)
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(split, 1)
        self.clustering = None

    def show_insights(self, clustering, pks, xy, thumbnails: dict[int, bytes]) -> None:
        self.clustering = clustering
        self.list.blockSignals(True)
        self.list.clear()
        all_item = QListWidgetItem(self.tr("All products"))
        all_item.setData(Qt.UserRole, None)
        self.list.addItem(all_item)
        for c in sorted(clustering.clusters, key=lambda c: -c.size):
            item = QListWidgetItem(f"{c.name}  ({c.size})")
            item.setToolTip(", ".join(f"{f}={v} ×{lift}" for f, v, lift in c.attributes) + "\n" + ", ".join(c.words))
            item.setData(Qt.UserRole, c.label)
            item.setForeground(PALETTE[c.label % len(PALETTE)].darker(130))
            self.list.addItem(item)
        self.list.blockSignals(False)
        q = clustering
        self.quality.setText(self.tr("%d clusters · silhouette %s · Davies-Bouldin %s") % (
            len(q.clusters), f"{q.silhouette:.3f}" if q.silhouette is not None else "—",
            f"{q.davies_bouldin:.3f}" if q.davies_bouldin is not None else "—"))
        labels = dict(zip((int(p) for p in q.pks), (int(label) for label in q.labels)))
        colours = {pk: (PALETTE[label % len(PALETTE)] if label >= 0 else QColor("lightgray"))
                   for pk, label in labels.items()}
        self.map.show_points(pks, xy, colours, thumbnails)

    def _chosen(self, current, _previous) -> None:
        if current is None or self.clustering is None:
            return
        label = current.data(Qt.UserRole)
        self.cluster_chosen.emit(None if label is None else self.clustering.members(label))
