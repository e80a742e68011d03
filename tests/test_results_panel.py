from PySide6.QtCore import Qt

from gui.results_model import ResultRow
from gui.results_panel import ResultsPanel


def rows(n):
    return [ResultRow(i, f"S{i}", f"Product {i}", 1 - i / 100, {"image": 0.5}, None) for i in range(n)]


def test_select_and_thumbs(qtbot):
    panel = ResultsPanel()
    qtbot.addWidget(panel)
    assert not panel.up.isEnabled()
    panel.set_similar(rows(1000))
    assert panel.similar_model.rowCount() == 1000 and "1000" in panel.empty.text()
    with qtbot.waitSignal(panel.selected) as sel:
        panel.similar.setCurrentIndex(panel.similar_model.index(3, 0))
    assert sel.args == [3] and panel.up.isEnabled()
    with qtbot.waitSignal(panel.thumbs) as th:
        panel.down.click()
    assert th.args == [3, "Product 3", False]
    panel.set_similar([])
    assert "No results" in panel.empty.text() and not panel.up.isEnabled()


def test_keyboard_thumbs(qtbot):
    panel = ResultsPanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.set_similar(rows(5))
    panel.similar.setFocus()
    panel.similar.setCurrentIndex(panel.similar_model.index(1, 0))
    with qtbot.waitSignal(panel.thumbs) as th:
        qtbot.keyClick(panel.similar, Qt.Key_Plus)
    assert th.args == [1, "Product 1", True]


def test_the_count_below_the_grid_is_the_shown_tab_s(qtbot):
    panel = ResultsPanel()
    qtbot.addWidget(panel)
    panel.tabs.setCurrentWidget(panel.goes_with)
    assert panel.empty.text() == "Select a result to see what goes with it."
    panel.tabs.setCurrentWidget(panel.similar)
    panel.set_similar(rows(3))
    known = ResultRow(7, "S7", "Bag", 0.04, {"bought together": 0.04}, None, "bought", "bought together")
    panel.set_goes_with([known, *rows(2)])
    assert panel.empty.text() == "3 results"  # the Similar tab is shown: its count stays
    panel.tabs.setCurrentWidget(panel.goes_with)
    assert panel.empty.text() == "1 bought with it, 2 predicted"
    panel.set_goes_with([])
    assert panel.empty.text() == "Nothing goes with it yet"
    panel.tabs.setCurrentWidget(panel.similar)
    assert panel.empty.text() == "3 results"
    panel.set_similar(rows(1), scope="limited to cluster “Skirts”")  # what limits them is said beside the count
    assert panel.empty.text() == "1 result · limited to cluster “Skirts”"
    panel.set_goes_with([], "This catalog has no co-purchase pairs")
    panel.tabs.setCurrentWidget(panel.goes_with)
    assert panel.empty.text() == "This catalog has no co-purchase pairs"


def test_a_long_title_is_elided_on_its_last_line_and_whole_in_the_tooltip(qtbot):
    from PySide6.QtGui import QFontMetrics
    from PySide6.QtWidgets import QApplication

    from gui.thumbnail_delegate import title_lines

    font = QApplication.font()
    title = "Ed Hardy Life Love & Luck by Christian Audigier for Women Perfumes, a gift set with a pouch"
    lines = title_lines(title, font, 152, 3)
    assert len(lines) == 3 and lines[-1].endswith("…") and not any(x.endswith("…") for x in lines[:-1])
    assert all(QFontMetrics(font).horizontalAdvance(x) <= 152 for x in lines)
    assert " ".join(lines)[:-1].replace("  ", " ") in title.replace("  ", " ")  # the start of the title, in order
    assert title_lines("Blue shirt", font, 152, 3) == ["Blue shirt"]  # short: whole, no ellipsis
    assert title_lines("a" * 80, font, 152, 2)[-1].endswith("…")  # one word wider than the card, cut too
    assert title_lines("", font, 152, 2) == [""]

    panel = ResultsPanel()
    qtbot.addWidget(panel)
    panel.resize(600, 500)
    panel.show()
    panel.set_similar([ResultRow(1, "S1", title, 0.9, {"image": 0.9}, None)])
    model = panel.similar_model
    assert model.data(model.index(0, 0), Qt.ToolTipRole).startswith(title + "\n")  # the whole title
    painted = panel.similar.viewport().grab().toImage()
    assert painted.width() > 0


def test_a_click_on_the_current_card_asks_for_it_again_and_another_product_unhighlights_it(qtbot):
    panel = ResultsPanel()
    qtbot.addWidget(panel)
    panel.resize(600, 500)
    panel.show()
    panel.set_similar(rows(5))
    grid = panel.similar
    qtbot.waitUntil(lambda: grid.visualRect(panel.similar_model.index(1, 0)).isValid(), timeout=3000)
    at = grid.visualRect(panel.similar_model.index(1, 0)).center()
    seen = []
    panel.selected.connect(seen.append)
    qtbot.mouseClick(grid.viewport(), Qt.LeftButton, Qt.NoModifier, at)
    qtbot.mouseClick(grid.viewport(), Qt.LeftButton, Qt.NoModifier, at)  # Qt reports no change: it did nothing
    assert seen == [1, 1]
    qtbot.mouseClick(grid.viewport(), Qt.RightButton, Qt.NoModifier, at)  # the context menu's click: not a choice
    assert seen == [1, 1]
    panel.keep_current(1)  # the product explained is this card's: it stays highlighted
    assert panel.current_row().pk == 1
    panel.keep_current(42)  # another product explained (a "Goes with" card, a point of the map)
    assert not grid.selectionModel().hasSelection() and panel.current_row() is None and not panel.up.isEnabled()
    qtbot.mouseClick(grid.viewport(), Qt.LeftButton, Qt.NoModifier, at)
    assert seen == [1, 1, 1] and panel.current_row().pk == 1 and panel.up.isEnabled()
    from gui.results_model import NoResults

    panel.set_similar(NoResults("This catalog has no products yet"))  # why there are none, not "loosen the filters"
    assert panel.empty.text() == "This catalog has no products yet"


def test_an_empty_grid_says_why_in_its_middle_and_the_count_beside_the_buttons_only_with_cards(qtbot):
    from gui.results_model import NoResults

    panel = ResultsPanel()
    qtbot.addWidget(panel)
    panel.show()
    assert "Nothing yet" in panel.similar.placeholder and not panel.empty.isVisible()
    why = ("No results: “Only this category” asks for Skirts, the Filters tab for Article type Jeans, and no product "
           "is both.")
    panel.set_similar(NoResults(why))
    assert panel.similar.placeholder == why and not panel.empty.isVisible()  # not a word a line beside the buttons
    panel.set_similar(rows(3))
    assert panel.similar.placeholder == "" and panel.empty.isVisible() and panel.empty.text() == "3 results"
    panel.tabs.setCurrentWidget(panel.goes_with)  # nothing selected: its message in its own grid
    assert not panel.empty.isVisible() and "Select a result" in panel.goes_with.placeholder
