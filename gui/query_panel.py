"""The query panel: a photo (dropped, pasted or opened), a text, their weight, and the products marked
"more like this" and "less like this".

Emits ``changed`` whenever the query changes (a typed text and a weight moved by keys once they settle;
Enter and a released slider at once); the window decides when to search. Dropped data is checked on the
way in: the drop zone highlights what it can take and refuses the rest.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QMimeData, QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QGuiApplication, QImage, QKeySequence, QPixmap
from PySide6.QtWidgets import (QCheckBox, QFrame, QHBoxLayout, QLabel, QLineEdit, QListWidget, QListWidgetItem,
                               QPushButton, QSizePolicy, QSlider, QVBoxLayout, QWidget)

from gui.explanation_views import pil_to_pixmap, show_fitted

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".jfif", ".jpe", ".png", ".webp", ".avif", ".gif", ".bmp", ".tif", ".tiff"}
PREVIEW_SIDE = 1024  # the photo shown in the drop zone is decoded at most this large (a 7000 px photo froze the window)
SETTLE_MS = 600  # typing or a weight moved by keys: the query changes once this long without another change


@dataclass(frozen=True)
class QueryState:
    text: str = ""
    image_path: str | None = None  # a file on disk (pasted images are saved to a temp file first)
    image_weight: float = 0.5
    unlike: tuple[int, ...] = ()
    like: tuple[int, ...] = ()
    same_category: str | None = None  # zero-shot category used as a filter
    labels: dict[int, str] = field(default_factory=dict)  # pk -> title, for the lists


def save_pasted_photo(image: QImage, path: str):
    """Writes pasted image data to ``path`` (a PNG) and reads it back as the search will: (path, the preview).
    Run off the GUI thread: a 7000 x 7000 paste took 7 s to write as a compressed PNG, the window frozen; it is
    written uncompressed (2 s), as the temporary file it is."""
    from core.errors import AppError
    from core.images import load_image

    if not os.path.exists(path):  # the window closed meanwhile and deleted it: not written again
        raise AppError("The window closed before the pasted photo was saved.")
    if not image.save(path, "PNG", 100):  # quality 100: zlib level 0
        raise AppError(f"The pasted photo could not be saved to the temporary file {path}: check the free space "
                       "of the temporary folder, or save the photo to a file and open it instead.")
    return path, load_image(Path(path), name="pasted photo", max_side=PREVIEW_SIDE).image


def image_from_mime(mime: QMimeData) -> tuple[str | None, QImage | None]:
    """(a local image file, or image data) carried by a drop or the clipboard; (None, None) if neither."""
    for url in mime.urls():
        if url.isLocalFile() and Path(url.toLocalFile()).suffix.lower() in IMAGE_SUFFIXES:
            return url.toLocalFile(), None
    if mime.hasImage():
        image = QImage(mime.imageData())
        if not image.isNull():
            return None, image
    return None, None


def holds_photo_not_text(mime: QMimeData) -> bool:
    """Whether a paste into the description box is a photo: the clipboard holds one and no text but its address
    (a copied file reads as text too: its address, which is no description)."""
    path, image = image_from_mime(mime)
    if path:
        return mime.text().strip() in ("", path, QUrl.fromLocalFile(path).toString())
    return image is not None and not mime.text().strip()


class DescriptionBox(QLineEdit):
    """The description text; Ctrl+V with a photo and no text on the clipboard asks for the photo as the query (the
    box took the shortcut and pasted nothing, where the drop zone says "paste one (Ctrl+V)")."""

    photo_pasted = Signal()

    def keyPressEvent(self, event) -> None:
        if event.matches(QKeySequence.Paste) and holds_photo_not_text(QGuiApplication.clipboard().mimeData()):
            self.photo_pasted.emit()
            return
        super().keyPressEvent(event)


class DropZone(QLabel):
    """Shows the query photo; accepts image files and image data by drag and drop."""

    dropped_file = Signal(str)
    dropped_image = Signal(QImage)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.setAlignment(Qt.AlignCenter)
        self.setMinimumSize(QSize(180, 180))
        self.setFrameShape(QFrame.StyledPanel)
        self.setWordWrap(True)
        # the photo follows the zone's size (it was scaled once: a narrower column cut both its sides off);
        # ignored size hints keep a large photo from widening the column it is fitted to
        self.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Ignored)
        self._source: QPixmap | None = None
        self.clear_photo()

    def clear_photo(self) -> None:
        self._source = None
        self.setPixmap(QPixmap())
        self.setText(self.tr("Drop a product photo here\nor paste one (Ctrl+V)"))

    def show_photo(self, pixmap: QPixmap) -> None:
        self._source = pixmap
        self._refit()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._refit()

    def _refit(self) -> None:
        if self._source is not None:
            show_fitted(self, self._source, margin=8)

    def _highlight(self, on: bool) -> None:
        self.setProperty("dropTarget", on)
        self.setStyleSheet("QLabel { border: 2px dashed palette(highlight); }" if on else "")

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        path, image = image_from_mime(event.mimeData())
        if path or image is not None:
            self._highlight(True)
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragLeaveEvent(self, event) -> None:
        self._highlight(False)

    def dropEvent(self, event: QDropEvent) -> None:
        self._highlight(False)
        path, image = image_from_mime(event.mimeData())
        if path:
            self.dropped_file.emit(path)
        elif image is not None:
            self.dropped_image.emit(image)
        else:
            event.ignore()
            return
        event.acceptProposedAction()


class _DeletableList(QListWidget):
    delete_pressed = Signal(QListWidgetItem)

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key_Delete, Qt.Key_Backspace) and self.currentItem() is not None:
            self.delete_pressed.emit(self.currentItem())
        else:
            super().keyPressEvent(event)


class PicksList(QWidget):
    """Products marked "more like this" or "less like this": hidden while empty; double-click or Delete
    removes one (a pick no one could see steered every search until another catalog was opened)."""

    removed = Signal(int)

    def __init__(self, caption: str, parent=None):
        super().__init__(parent)
        self.label = QLabel(caption)
        self.list = _DeletableList()
        self.list.setMaximumHeight(90)
        self.list.setToolTip(self.tr("Double-click a product, or select it and press Delete, to remove it"))
        self.list.itemDoubleClicked.connect(self._remove)
        self.list.delete_pressed.connect(self._remove)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.list)
        self.setVisible(False)

    def add(self, pk: int, title: str) -> None:
        item = QListWidgetItem(title)
        item.setData(Qt.UserRole, pk)
        item.setToolTip(title)
        self.list.addItem(item)
        self.setVisible(True)

    def discard(self, pk: int) -> None:
        for row in reversed(range(self.list.count())):
            if self.list.item(row).data(Qt.UserRole) == pk:
                self.list.takeItem(row)
        self.setVisible(self.list.count() > 0)

    def clear(self) -> None:
        self.list.clear()
        self.setVisible(False)

    def titles(self) -> list[str]:
        return [self.list.item(row).text() for row in range(self.list.count())]

    def _remove(self, item: QListWidgetItem) -> None:
        pk = item.data(Qt.UserRole)
        self.discard(pk)
        self.removed.emit(pk)


class QueryPanel(QWidget):
    changed = Signal()
    image_requested = Signal()  # "Open image…"
    refused = Signal(str)  # a photo that cannot be read: why (the query keeps the photo it had)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.image_path: str | None = None
        self.photo_changes = 0  # photos set or cleared so far (a paste written meanwhile is not the query's)
        self.unlike: dict[int, str] = {}
        self.like: dict[int, str] = {}
        self.drop = DropZone(self)
        self.drop.dropped_file.connect(self.set_image_file)
        self.text = DescriptionBox(placeholderText=self.tr("Describe a product, e.g. “navy slim fit shirt”"))
        self.text.photo_pasted.connect(lambda: self.paste_photo(QGuiApplication.clipboard().mimeData()))
        self._settle = QTimer(self, singleShot=True, interval=SETTLE_MS)
        self._settle.timeout.connect(self.changed)
        self.text.textEdited.connect(lambda _t: self._settle.start())  # searched as typed, once it settles
        self.text.returnPressed.connect(self._now)
        self.open_button = QPushButton(self.tr("Open photo…"))
        self.open_button.clicked.connect(self.image_requested)
        self.clear_button = QPushButton(self.tr("Clear photo"))
        self.clear_button.clicked.connect(lambda: self.set_image_file(None))
        self.weight = QSlider(Qt.Horizontal, minimum=0, maximum=100, value=50)
        self.weight.setToolTip(self.tr("How much the photo counts against the text"))
        self.weight.sliderReleased.connect(self._now)
        # keys, the wheel and clicks on the groove move it too (they searched nothing); a drag waits for release
        self.weight.valueChanged.connect(lambda _v: self.weight.isSliderDown() or self._settle.start())
        self.category = QLabel()
        self.same_category = QCheckBox(self.tr("Only this category"))
        self.same_category.setEnabled(False)
        self.same_category.toggled.connect(self.changed)
        self.like_list = PicksList(self.tr("More like this (double-click to remove):"))
        self.like_list.removed.connect(lambda pk: self._forget(self.like, pk))
        self.unlike_list = PicksList(self.tr("Less like this (double-click to remove):"))
        self.unlike_list.removed.connect(lambda pk: self._forget(self.unlike, pk))
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.clear_button)
        weight = QHBoxLayout()
        weight.addWidget(QLabel(self.tr("text")))
        weight.addWidget(self.weight)
        weight.addWidget(QLabel(self.tr("photo")))
        layout = QVBoxLayout(self)
        layout.addWidget(self.drop)
        layout.addLayout(buttons)
        layout.addWidget(self.category)
        layout.addWidget(self.same_category)
        layout.addWidget(self.text)
        layout.addLayout(weight)
        layout.addWidget(self.like_list)
        layout.addWidget(self.unlike_list)
        layout.addStretch(1)
        chain = (self.open_button, self.clear_button, self.same_category, self.text, self.weight, self.like_list.list,
                 self.unlike_list.list)  # Tab goes top to bottom, as laid out (the photo buttons came last)
        for first, second in zip(chain, chain[1:]):
            QWidget.setTabOrder(first, second)

    def set_image_file(self, path: str | None, preview=None) -> None:
        """The query's photo (None: none). One the search could not read is refused now, with why: kept, it
        failed every search after it until the photo was cleared. ``preview``: the photo at preview size, read
        already (a pasted photo, read off the GUI thread)."""
        self.photo_changes += 1
        if path:
            from core.errors import BadImage
            from core.images import load_image

            try:
                loaded = preview if preview is not None else load_image(Path(path), max_side=PREVIEW_SIDE).image
            except BadImage as exc:
                self.refused.emit(str(exc))
                return
            self.image_path = path
            # what the search sees (EXIF-rotated), at preview size; the search decodes it in full, off this thread
            self.drop.show_photo(pil_to_pixmap(loaded))
        else:
            self.image_path = None
            self.drop.clear_photo()
        self.set_category(None)
        self.changed.emit()

    def paste_photo(self, mime: QMimeData) -> bool:
        """The photo that a paste carries (a copied image file, or image data) as the query's; False if none."""
        path, image = image_from_mime(mime)
        if path:
            self.set_image_file(path)
        elif image is not None:
            self.drop.dropped_image.emit(image)  # image data, as if dropped: the window saves it to a file first
        return bool(path) or image is not None

    def set_category(self, label: str | None, probability: float | None = None) -> None:
        self.category.setText(self.tr("Looks like: %s (%d%%)") % (label, round(100 * probability)) if label else "")
        self.same_category.setEnabled(bool(label))
        self._category = label
        if not label:
            self.same_category.setChecked(False)

    def add_unlike(self, pk: int, title: str) -> None:
        self._pick(pk, title, self.unlike, self.unlike_list, self.like, self.like_list)

    def add_like(self, pk: int, title: str) -> None:
        self._pick(pk, title, self.like, self.like_list, self.unlike, self.unlike_list)

    def _pick(self, pk: int, title: str, picks: dict, shown: PicksList, other: dict, other_shown: PicksList) -> None:
        """``pk`` into one list, out of the other (a product is not both more and less like the query)."""
        if pk in picks:
            return
        picks[pk] = title
        shown.add(pk, title)
        if other.pop(pk, None) is not None:
            other_shown.discard(pk)
        self.changed.emit()

    def _forget(self, picks: dict, pk: int) -> None:
        picks.pop(pk, None)
        self.changed.emit()

    def _now(self) -> None:
        """Enter or a released slider: search now, not once the typing settles as well."""
        self._settle.stop()
        self.changed.emit()

    def forget_products(self) -> None:
        """No "more / less like this" products: another catalog was opened, whose products they are not."""
        self.like.clear()
        self.unlike.clear()
        self.like_list.clear()
        self.unlike_list.clear()

    def state(self) -> QueryState:
        from core.search import has_words  # a zero-width space alone is no text (its search was an error box)

        text = self.text.text().strip()
        return QueryState(text if has_words(text) else "", self.image_path, self.weight.value() / 100,
                          tuple(self.unlike), tuple(self.like),
                          getattr(self, "_category", None) if self.same_category.isChecked() else None)

    def is_empty(self) -> bool:
        s = self.state()
        return not (s.text or s.image_path or s.like)
