from PySide6.QtCore import QModelIndex, Qt

from gui.filters_panel import FiltersPanel


def test_filters_state_and_reset(qtbot):
    panel = FiltersPanel()
    qtbot.addWidget(panel)
    panel.set_fields({"articleType": [("Shirts", 4), ("Shoes", 2)], "colour": [("Red", 3)]})
    assert panel.state().categories == {} and panel.state().price_max is None
    panel.combos["articleType"].setCurrentIndex(2)
    panel.price_max.setValue(40)
    panel.min_score.setValue(0.3)
    s = panel.state()
    assert s.categories == {"articleType": ("Shoes",)} and s.price_max == 40 and s.min_score == 0.3
    assert s.price_min is None and s.rating_min is None
    panel.set_fields({"gender": [("Men", 1)]})  # another catalog: old combos go away
    assert list(panel.combos) == ["gender"] and panel.state().categories == {}
    assert panel.form.labelForField(panel.combos["gender"]).text() == "Gender"
    panel.set_fields({"baseColour": [("Red", 1)], "product_type_name": [("Skirt", 1)]})
    assert [panel.form.labelForField(c).text() for c in panel.combos.values()] == ["Base colour", "Product type name"]
    assert panel.state().categories == {}
    panel.combos["baseColour"].setCurrentIndex(1)
    assert panel.state().categories == {"baseColour": ("Red",)}  # the column's own name filters
    with qtbot.waitSignal(panel.changed):
        panel.reset()
    assert panel.state().price_max is None and panel.state().min_score is None


def test_arrows_search_once_the_number_rests_and_leaving_the_box_at_once(qtbot):
    panel = FiltersPanel()
    qtbot.addWidget(panel)
    changes = []
    panel.changed.connect(lambda: changes.append((panel.state().rating_min, panel.state().price_max)))
    for _ in range(3):  # three clicks on the up arrow
        panel.rating_min.stepBy(1)
    assert changes == []  # not one search per step
    qtbot.waitUntil(lambda: changes == [(1.5, None)], timeout=2000)
    panel.price_max.stepBy(5)
    panel.price_max.editingFinished.emit()  # focus leaves the box: at once, and once
    assert changes == [(1.5, None), (1.5, 5)]
    qtbot.wait(600)
    panel.price_max.editingFinished.emit()  # leaving a box that did not change: nothing
    assert len(changes) == 2


def test_a_long_category_value_does_not_widen_the_panel(qtbot):
    panel = FiltersPanel()
    qtbot.addWidget(panel)
    panel.set_fields({"articleType": [("Shirts", 4)]})
    short = panel.minimumSizeHint().width()
    value = "Women Ethnic Wear Kurta Sets With Dupatta And Palazzo Pants Festive"
    panel.set_fields({"articleType": [("Shirts", 4), (value, 1)]})
    assert panel.minimumSizeHint().width() <= short + 10  # it set the window's minimum width past 1,200 px
    combo = panel.combos["articleType"]
    combo.setCurrentIndex(2)
    assert value in combo.toolTip() and value in combo.itemData(2, Qt.ToolTipRole)


def test_a_field_of_many_values_is_searched_by_typing_any_part_of_a_value(qtbot):
    panel = FiltersPanel()
    qtbot.addWidget(panel)
    values = [(f"code {i:04d}", 1) for i in range(300)] + [("Summer linen shirt", 1)]
    panel.set_fields({"product_code": values, "colour": [("Red", 3), ("Blue", 2)]})
    codes, colours = panel.combos["product_code"], panel.combos["colour"]
    assert codes.isEditable() and not colours.isEditable()  # a short list stays a list
    completer = codes.completer()
    completer.setCompletionPrefix("linen")  # a part from the middle of a value, any case
    assert completer.completionCount() == 1 and completer.currentCompletion() == "Summer linen shirt (1)"
    with qtbot.waitSignal(panel.changed, timeout=3000):
        completer.activated[QModelIndex].emit(completer.currentIndex())  # the popup's row chosen
    assert panel.state().categories == {"product_code": ("Summer linen shirt",)}
    codes.lineEdit().setText("no such code")  # typed, matching nothing: the choice stands, and is shown again
    codes.lineEdit().editingFinished.emit()
    assert codes.currentText() == "Summer linen shirt (1)"
    assert panel.state().categories == {"product_code": ("Summer linen shirt",)}


def test_a_click_into_a_searchable_box_showing_any_value_lets_the_typing_search(qtbot):
    from PySide6.QtTest import QTest

    panel = FiltersPanel()
    qtbot.addWidget(panel)
    panel.set_fields({"product_code": [(f"{706016 + i}", 1) for i in range(300)]})
    panel.show()
    codes = panel.combos["product_code"]
    assert codes.lineEdit().text() == "—"
    QTest.mouseClick(codes.lineEdit(), Qt.LeftButton)
    qtbot.waitUntil(lambda: codes.lineEdit().hasFocus(), timeout=3000)
    assert codes.lineEdit().text() == ""  # "—" gone: the hint shows, and what is typed is searched
    QTest.keyClicks(codes.lineEdit(), "706299")
    assert codes.lineEdit().text() == "706299" and codes.completer().completionCount() == 1
    codes.lineEdit().editingFinished.emit()  # left without choosing: "—" again, and no filter
    assert codes.lineEdit().text() == "—" and panel.state().categories == {}
