"""The query panel: drops through real QDropEvents, refusal of what it cannot take, state."""
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QImage

from gui.query_panel import SETTLE_MS, QueryPanel, image_from_mime


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
    panel.unlike_list._remove(panel.unlike_list.list.item(0))
    assert panel.state().unlike == () and not panel.is_empty()
    panel.set_category("Shirts", 0.8)
    panel.same_category.setChecked(True)
    assert panel.state().same_category == "Shirts"
    panel.text.setText("\u200b\ufeff")  # invisible characters alone: no text (a search of them was an error box)
    assert panel.state().text == "" and panel.is_empty()


def test_more_like_a_product_takes_it_off_the_less_list_and_another_catalog_forgets_both(qtbot):
    panel = QueryPanel()
    qtbot.addWidget(panel)
    panel.show()
    assert panel.like_list.isHidden() and panel.unlike_list.isHidden()  # nothing marked: no empty boxes
    panel.add_unlike(7, "Red shirt")
    panel.add_unlike(8, "Blue shirt")
    panel.add_like(7, "Red shirt")
    assert panel.state().unlike == (8,) and panel.state().like == (7,)
    assert panel.unlike_list.titles() == ["Blue shirt"] and panel.like_list.titles() == ["Red shirt"]
    assert panel.like_list.isVisible()  # a pick that steers the search is shown
    panel.add_unlike(7, "Red shirt")  # and back: off the "more like this" list
    assert panel.like_list.titles() == [] and panel.like_list.isHidden() and panel.state().like == ()
    panel.forget_products()
    assert (panel.state().unlike, panel.state().like, panel.unlike_list.titles()) == ((), (), [])
    assert panel.unlike_list.isHidden()


def test_a_more_like_this_pick_is_removed_by_delete_and_the_search_follows(qtbot):
    panel = QueryPanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.add_like(7, "Red shirt")
    panel.like_list.list.setCurrentRow(0)
    panel.like_list.list.setFocus()
    with qtbot.waitSignal(panel.changed, timeout=1000):
        qtbot.keyClick(panel.like_list.list, Qt.Key_Delete)
    assert panel.state().like == () and panel.is_empty() and panel.like_list.isHidden()


def test_typing_searches_once_it_settles_and_enter_at_once(qtbot):
    panel = QueryPanel()
    qtbot.addWidget(panel)
    seen = []
    panel.changed.connect(lambda: seen.append(panel.state().text))
    qtbot.keyClicks(panel.text, "red dress")
    assert seen == []  # not once per key
    qtbot.waitUntil(lambda: seen == ["red dress"], timeout=3000)
    qtbot.keyClicks(panel.text, " long")
    qtbot.keyClick(panel.text, Qt.Key_Return)
    assert seen == ["red dress", "red dress long"]
    qtbot.wait(SETTLE_MS + 200)
    assert seen == ["red dress", "red dress long"]  # Enter stopped the pending one


def test_the_weight_moved_by_keys_searches_and_a_drag_waits_for_release(qtbot):
    panel = QueryPanel()
    qtbot.addWidget(panel)
    seen = []
    panel.changed.connect(lambda: seen.append(panel.state().image_weight))
    panel.weight.setFocus()
    qtbot.keyClick(panel.weight, Qt.Key_End)
    qtbot.waitUntil(lambda: seen == [1.0], timeout=3000)
    panel.weight.setSliderDown(True)
    panel.weight.setValue(30)
    qtbot.wait(SETTLE_MS + 200)
    assert seen == [1.0]
    panel.weight.setSliderDown(False)  # released: emits sliderReleased
    assert seen == [1.0, 0.3]


def test_tab_goes_down_the_panel_as_laid_out(qtbot):
    panel = QueryPanel()
    qtbot.addWidget(panel)
    order, w = [], panel.open_button
    for _ in range(60):  # the chain holds labels and layouts' widgets too: keep those Tab stops at
        if w.focusPolicy() & Qt.TabFocus and w not in order:
            order.append(w)
        w = w.nextInFocusChain()
    stops = [panel.open_button, panel.clear_button, panel.text, panel.weight]
    assert sorted(stops, key=order.index) == stops


def test_ctrl_v_in_the_description_box_pastes_a_photo_and_text_as_text(qtbot, mini_dir):
    from PySide6.QtGui import QGuiApplication

    panel = QueryPanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.text.setFocus()
    clipboard = QGuiApplication.clipboard()
    image = QImage(20, 10, QImage.Format_RGB32)
    image.fill(Qt.red)
    clipboard.setImage(image)  # a photo and no text: the photo (the box took Ctrl+V and pasted nothing)
    with qtbot.waitSignal(panel.drop.dropped_image, timeout=1000) as pasted:
        qtbot.keyClick(panel.text, Qt.Key_V, Qt.ControlModifier)
    assert pasted.args[0].width() == 20 and panel.text.text() == ""
    photo = str(mini_dir / "images" / "P001.png")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(photo)])  # a copied file reads as text too: its address
    clipboard.setMimeData(mime)
    with qtbot.waitSignal(panel.changed, timeout=1000):
        qtbot.keyClick(panel.text, Qt.Key_V, Qt.ControlModifier)
    assert panel.state().image_path == photo and panel.text.text() == ""
    clipboard.setText("navy shirt")  # text: pasted as text, as usual
    qtbot.keyClick(panel.text, Qt.Key_V, Qt.ControlModifier)
    assert panel.text.text() == "navy shirt" and panel.state().image_path == photo
    clipboard.clear()


def test_the_photo_follows_the_drop_zone_s_size(qtbot, tmp_path):
    from PIL import Image

    photo = Image.new("RGB", (1200, 300), (255, 255, 255))
    photo.paste((255, 0, 0), (0, 0, 60, 300))  # red left edge, blue right edge
    photo.paste((0, 0, 255), (1140, 0, 1200, 300))
    photo.save(tmp_path / "wide.png")
    panel = QueryPanel()
    qtbot.addWidget(panel)
    panel.resize(700, 700)
    panel.show()
    panel.set_image_file(str(tmp_path / "wide.png"))
    wide = panel.drop.pixmap().width()
    panel.resize(260, 700)
    qtbot.waitUntil(lambda: panel.drop.pixmap().width() < wide)
    shown = panel.drop.pixmap().toImage()
    zone = panel.drop.contentsRect()
    assert shown.width() / shown.devicePixelRatio() <= zone.width()  # it was cut at both sides, centred
    left, right = shown.pixelColor(1, shown.height() // 2), shown.pixelColor(shown.width() - 2, shown.height() // 2)
    assert left.red() > 200 and left.blue() < 60 and right.blue() > 200 and right.red() < 60
    panel.resize(700, 700)
    qtbot.waitUntil(lambda: panel.drop.pixmap().width() >= wide - 2)  # it stayed small


def test_saved_jpegs_named_jfif_are_taken(qtbot, tmp_path):
    from PIL import Image

    Image.new("RGB", (40, 40), (0, 128, 0)).save(tmp_path / "saved.jfif", "JPEG")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(tmp_path / "saved.jfif"))])
    assert image_from_mime(mime)[0].endswith("saved.jfif")
