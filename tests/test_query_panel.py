"""The query panel: drops through real QDropEvents, refusal of what it cannot take, state."""
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QImage

from gui.query_panel import QueryPanel, image_from_mime


def drop(widget, mime):
    enter = QDragEnterEvent(QPoint(5, 5), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    widget.dragEnterEvent(enter)
    if not enter.isAccepted():
        return False
    event = QDropEvent(QPointF(5, 5), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    widget.dropEvent(event)
    return event.isAccepted()


def test_dropping_an_image_file_sets_the_query(qtbot, mini_dir):
    panel = QueryPanel()
    qtbot.addWidget(panel)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(mini_dir / "images" / "P001.png"))])
    with qtbot.waitSignal(panel.changed):
        assert drop(panel.drop, mime)
    assert panel.state().image_path.endswith("P001.png") and not panel.drop.pixmap().isNull()


def test_refuses_what_it_cannot_take(qtbot, tmp_path):
    panel = QueryPanel()
    qtbot.addWidget(panel)
    (tmp_path / "notes.txt").write_text("x")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(tmp_path / "notes.txt"))])
    assert not drop(panel.drop, mime)
    text = QMimeData()
    text.setText("hello")
    assert not drop(panel.drop, text)
    assert panel.state().image_path is None


def test_image_data_from_a_browser_drag_or_the_clipboard(qtbot):
    mime = QMimeData()
    image = QImage(20, 10, QImage.Format_RGB32)
    image.fill(Qt.red)
    mime.setImageData(image)
    path, data = image_from_mime(mime)
    assert path is None and data.size().width() == 20
    panel = QueryPanel()
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.drop.dropped_image):
        assert drop(panel.drop, mime)


def test_state_collects_text_weight_and_negatives(qtbot):
    panel = QueryPanel()
    qtbot.addWidget(panel)
    panel.text.setText("  navy shirt ")
    panel.weight.setValue(20)
    panel.add_unlike(7, "Red shirt")
    panel.add_unlike(7, "Red shirt")
    s = panel.state()
    assert (s.text, s.image_weight, s.unlike) == ("navy shirt", 0.2, (7,))
    panel._remove_unlike(panel.unlike_list.item(0))
    assert panel.state().unlike == () and not panel.is_empty()
    panel.set_category("Shirts", 0.8)
    panel.same_category.setChecked(True)
    assert panel.state().same_category == "Shirts"


def test_more_like_a_product_takes_it_off_the_less_list_and_another_catalog_forgets_both(qtbot):
    panel = QueryPanel()
    qtbot.addWidget(panel)
    panel.add_unlike(7, "Red shirt")
    panel.add_unlike(8, "Blue shirt")
    panel.add_like(7, "Red shirt")
    assert panel.state().unlike == (8,) and panel.state().like == (7,)
    assert [panel.unlike_list.item(i).text() for i in range(panel.unlike_list.count())] == ["Blue shirt"]
    panel.forget_products()
    assert (panel.state().unlike, panel.state().like, panel.unlike_list.count()) == ((), (), 0)
