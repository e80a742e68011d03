"""User flows through the window that cross panels (pytest-qt, offscreen): a card clicked again after another product
was explained, "Only this category" beside a Filters-tab value, Ctrl+V in the description box, an empty catalog."""
import threading
from types import SimpleNamespace

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QGuiApplication, QImage, QKeySequence
from PySide6.QtWidgets import QMessageBox


@pytest.fixture
def settings(tmp_path):
    return QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat)


@pytest.fixture(autouse=True)
def fake_models(monkeypatch):
    from tests.fakes import fake_spaces

    monkeypatch.setattr("core.spaces.default_spaces", fake_spaces)


@pytest.fixture
def explaining(monkeypatch, tmp_path):
    """A catalog with a (tiny, untrained) ViT, so that results are explained; explanations and rationales fakes that
    name their product, each explanation held until the gate opens."""
    import torch

    from core.spaces import vit_space
    from gui import backend
    from tests.fakes import fake_spaces

    torch.manual_seed(0)
    weights = save_tiny_vit(tmp_path)
    monkeypatch.setattr("core.spaces.default_spaces", lambda: [*fake_spaces(), vit_space(weights)])
    gate = threading.Event()
    gate.set()

    def explain(engine, holder, query, pk, method="grad-cam vit", score=None, **_streams):
        gate.wait(10)
        title = engine.catalog.product(pk).title
        m = SimpleNamespace(words={}, result_maps={}, query_maps={}, faithfulness={}, match=None, score=0.5)
        return backend.ExplainedMatch(title, None, None, m, title)

    def write_rationale(engine, holder, facts, model_path=None, *, emit, cancelled):
        return SimpleNamespace(text=f"why {facts}", kind="template", reason="fake", rejected=[])

    monkeypatch.setattr(backend, "explain", explain)
    monkeypatch.setattr(backend, "write_rationale", write_rationale)
    return gate


def save_tiny_vit(tmp_path):
    from core.vit import HybridViT, VitConfig, save_vit

    return save_vit(HybridViT(VitConfig(dim=32, depth=1, heads=2)), tmp_path / "vit")


def open_window(qtbot, path, settings):
    from gui.main_window import MainWindow

    window = MainWindow(path, demo=False, settings=settings)
    qtbot.addWidget(window)
    window.query.text.setText("red summer dress")  # typed while it opens: only the demo opens with a query
    qtbot.waitUntil(lambda: window.engine is not None and not window._workers, timeout=20000)
    return window


def wait_idle(qtbot, window):
    qtbot.wait(5)  # work a selection starts on the next turn of the event loop (its heatmap, then its list)
    qtbot.waitUntil(lambda: not window._workers, timeout=20000)


def click(qtbot, grid, row):
    index = grid.model().index(row, 0)
    qtbot.waitUntil(lambda: grid.visualRect(index).isValid(), timeout=3000)
    qtbot.mouseClick(grid.viewport(), Qt.LeftButton, Qt.NoModifier, grid.visualRect(index).center())


def test_a_card_clicked_again_is_explained_whatever_was_explained_since(qtbot, engine, settings, mini_dir, explaining):
    from core.ingest import import_copurchases

    import_copurchases(engine.catalog, mini_dir / "copurchase.csv")
    window = open_window(qtbot, engine.catalog.path, settings)
    window.show()
    window.resize(1400, 860)
    results, similar = window.results, window.results.similar
    window.query.text.setText("red shirt")
    window.query.text.returnPressed.emit()
    wait_idle(qtbot, window)
    row = next(i for i in range(results.similar_model.rowCount()) if results.similar_model.row_at(i).sku == "P001")
    a = results.similar_model.row_at(row)
    click(qtbot, similar, row)
    qtbot.waitUntil(lambda: window.details.pk == a.pk and results.goes_with_model.rowCount() > 0, timeout=10000)
    wait_idle(qtbot, window)

    results.tabs.setCurrentWidget(results.goes_with)  # a card of "Goes with" explained: the Similar card is not it
    b = results.goes_with_model.row_at(0)
    click(qtbot, results.goes_with, 0)
    qtbot.waitUntil(lambda: window.details.pk == b.pk, timeout=10000)
    wait_idle(qtbot, window)
    assert not similar.selectionModel().hasSelection()  # no card highlighted beside another product's details
    results.tabs.setCurrentWidget(similar)
    assert results.current_row() is None and not results.up.isEnabled()  # "more like this" would have taken A
    click(qtbot, similar, row)  # the card before, clicked again: explained again (Qt saw no change: nothing happened)
    qtbot.waitUntil(lambda: window.details.pk == a.pk, timeout=10000)
    assert results.current_row().pk == a.pk and window.details.title.text() == a.title
    wait_idle(qtbot, window)

    window.compute_insights("kmeans", "pca")  # the same after a point of the map
    wait_idle(qtbot, window)
    other = next(pk for pk in window.insights.map.positions if pk != a.pk)
    window.insights.map.clicked.emit(other)
    qtbot.waitUntil(lambda: window.details.pk == other, timeout=10000)
    wait_idle(qtbot, window)
    assert results.current_row() is None
    click(qtbot, similar, row)
    qtbot.waitUntil(lambda: window.details.pk == a.pk, timeout=10000)
    wait_idle(qtbot, window)

    explaining.clear()  # an explanation cancelled: "select the result again" — a click on its card does
    similar.setCurrentIndex(results.similar_model.index((row + 1) % results.similar_model.rowCount(), 0))
    qtbot.waitUntil(lambda: "explain" in window._latest, timeout=5000)
    window.cancel_button.click()
    explaining.set()
    wait_idle(qtbot, window)
    assert window.details.title.text().startswith("Cancelled: select the result again")
    again = results.current_row()
    click(qtbot, similar, (row + 1) % results.similar_model.rowCount())
    qtbot.waitUntil(lambda: window.details.pk == again.pk, timeout=10000)
    wait_idle(qtbot, window)
    runs = []  # a card whose explanation is shown, clicked again: not explained a second time
    window._run = lambda kind, *args, **kwargs: runs.append(kind)
    click(qtbot, similar, (row + 1) % results.similar_model.rowCount())
    qtbot.wait(50)
    assert runs == [] and window.details.pk == again.pk


def test_only_this_category_and_a_filter_on_its_field_must_both_hold(qtbot, engine, settings):
    from core.zero_shot import category_field
    from gui import backend
    from gui.filters_panel import FilterState
    from gui.query_panel import QueryState

    field = category_field(engine)
    values = [value for value, _ in engine.catalog.field_values(field)]
    kept, guessed = values[0], values[1]
    column = engine.catalog.attribute_column(field)
    # the photo's category, another value in the Filters tab: it replaced the filter (the results were its category)
    rows = backend.run_search(engine, QueryState("shirt", same_category=guessed), FilterState({field: (kept,)}))
    assert rows == [] and "Only this category" in rows.why and kept in rows.why and guessed in rows.why
    rows = backend.run_search(engine, QueryState("shirt", same_category=kept), FilterState({field: (kept,)}))
    assert rows and {column[r.pk] for r in rows} == {kept}  # the same value: no conflict

    window = open_window(qtbot, engine.catalog.path, settings)
    combo = window.filters.combos[field]
    combo.setCurrentIndex(combo.findData(kept))
    wait_idle(qtbot, window)
    window.query.set_category(guessed, 0.8)
    window.query.same_category.setChecked(True)
    wait_idle(qtbot, window)
    assert window.results.similar_model.rowCount() == 0 and combo.currentData() == kept
    text = window.results.empty.text()
    assert "Only this category" in text and guessed in text and kept in text and "loosen" not in text


def test_ctrl_v_in_the_description_box_pastes_a_photo_there(qtbot, engine, settings, mini_dir):
    window = open_window(qtbot, engine.catalog.path, settings)
    window.show()
    clipboard = QGuiApplication.clipboard()
    clipboard.setImage(QImage(str(mini_dir / "images" / "P010.png")))
    window.query.text.setFocus()
    qtbot.keyClick(window.query.text, Qt.Key_V, Qt.ControlModifier)
    wait_idle(qtbot, window)
    photo = window.query.state().image_path
    assert photo and window._searched.image_path == photo  # the query's photo, searched
    assert window.query.text.text() == "red summer dress"  # the box pasted nothing of its own
    clipboard.clear()


def empty_catalog(tmp_path):
    from core.catalog import Catalog
    from core.ingest import ColumnMapping, import_catalog
    from tests.fakes import fake_spaces

    csv = tmp_path / "empty.csv"
    csv.write_text("id,title,description,brand,price,rating,articleType,image\n")
    with Catalog.create(tmp_path / "empty.vitrina") as catalog:
        list(import_catalog(catalog, csv, ColumnMapping.guess(csv.read_text().strip().split(",")), fake_spaces()))
    return tmp_path / "empty.vitrina"


def test_an_empty_catalog_says_how_to_fill_it_in_the_window_s_words(qtbot, tmp_path, settings):
    window = open_window(qtbot, empty_catalog(tmp_path), settings)
    text = window.results.empty.text()
    assert "no products yet" in text and "File > Import Products" in text and "loosen" not in text
    window.results.tabs.setCurrentWidget(window.insights)
    window.compute_insights("kmeans", "pca")
    qtbot.waitUntil(lambda: window.findChild(QMessageBox) is not None, timeout=10000)
    wait_idle(qtbot, window)
    message = window.findChild(QMessageBox).text()
    assert "File > Re-index" in message and "vitrina index" not in message and "`" not in message


def test_ctrl_f_brings_the_description_box_forward_from_the_filters_tab(qtbot, engine, settings):
    window = open_window(qtbot, engine.catalog.path, settings)
    window.show()
    window.left_tabs.setCurrentWidget(window.filters)
    window.filters.price_min.setFocus()
    find, = [a for a in window.findChildren(QAction) if a.shortcut() == QKeySequence(QKeySequence.Find)]
    find.trigger()  # (offscreen, a key press does not reach the window's shortcuts)
    assert window.left_tabs.currentWidget() is window.query
    qtbot.waitUntil(lambda: window.query.text.hasFocus())


def test_a_superseded_search_s_error_is_not_shown(qtbot, engine, settings, monkeypatch):
    import time

    from core.errors import AppError
    from gui import backend

    window = open_window(qtbot, engine.catalog.path, settings)
    real, calls = backend.run_search, []

    def first_fails(engine, query, *args, **kw):
        calls.append(query.text)
        if len(calls) == 1:
            time.sleep(0.5)
            raise AppError("The image file old.png does not exist")
        return real(engine, query, *args, **kw)

    monkeypatch.setattr(backend, "run_search", first_fails)
    window.query.text.setText("old query")
    window.search()
    qtbot.wait(50)
    window.query.text.setText("black shoe")
    window.search()
    wait_idle(qtbot, window)
    qtbot.wait(100)
    assert calls == ["old query", "black shoe"] and window.findChild(QMessageBox) is None
    assert window.results.similar_model.rowCount() > 0 and window._searched.text == "black shoe"


def test_a_long_catalog_name_is_cut_in_the_status_bar_not_widening_the_window(qtbot, engine, settings, tmp_path):
    import shutil

    from core.catalog import Catalog

    long_path = tmp_path / f"{'summer collection of the northern stores ' * 4}.vitrina"
    shutil.copy(engine.catalog.path, long_path)  # a whole copy, named "mini" as the catalog it copies
    with Catalog.open(long_path) as copy:
        copy.set_meta("name", long_path.stem)
    window = open_window(qtbot, long_path, settings)
    label = window.catalog_label
    assert "…" in label.text() and label.toolTip().startswith(long_path.stem)
    assert label.sizeHint().width() <= 660


def test_the_query_photo_is_decoded_once_per_file_version(tmp_path, monkeypatch):
    import os

    from PIL import Image

    import core.images
    from gui import backend

    path = tmp_path / "q.png"
    Image.new("RGB", (30, 20), (255, 0, 0)).save(path)
    real, loads = core.images.load_image, []
    monkeypatch.setattr(core.images, "load_image", lambda p, *a, **kw: loads.append(p) or real(p, *a, **kw))
    first = backend._image(str(path))
    first.paste((0, 0, 0), (0, 0, 30, 20))  # a caller drawing on its photo does not change the kept one
    assert backend._image(str(path)).getpixel((0, 0)) == (255, 0, 0) and len(loads) == 1
    Image.new("RGB", (30, 20), (0, 0, 255)).save(path)  # the same file saved again: read again
    os.utime(path, ns=(1, 10**9))
    assert backend._image(str(path)).getpixel((0, 0)) == (0, 0, 255) and len(loads) == 2
    path.unlink()
    with pytest.raises(Exception, match="does not exist"):
        backend._image(str(path))


def test_explanations_and_reports_use_the_window_s_weight_and_language_model(engine, monkeypatch):
    from gui import backend
    from gui.query_panel import QueryState

    seen = {}

    class Explainer:
        def explain(self, *args, image_weight, **kw):
            seen["image_weight"] = image_weight
            raise LookupError("enough")

    query = QueryState(text="red shirt", image_weight=0.8)
    with pytest.raises(LookupError):  # the explained query weighed photo and text evenly, whatever the slider
        backend.explain(engine, {"explainer": Explainer()}, query, engine.catalog.pk_for_sku("P001"))
    assert seen["image_weight"] == 0.8

    match = SimpleNamespace(facts="facts", result_image=None, query_image=None, explanation=SimpleNamespace(score=0.5))
    monkeypatch.setattr(backend, "explain", lambda *a, **kw: match)
    monkeypatch.setattr(backend, "write_rationale",
                        lambda engine, holder, facts, model_path=None, **kw: seen.setdefault("model", model_path))
    monkeypatch.setattr("explain.report.render_html", lambda queries, meta: "html")
    html = backend.report_html(engine, {}, query, [engine.catalog.pk_for_sku("P001")], "grad-cam vit",
                               model_path="/models/mine.gguf", emit=lambda _p: None, cancelled=lambda: False)
    assert html == "html" and seen["model"] == "/models/mine.gguf"  # the report used the bundled model


def test_a_report_says_how_photo_and_words_were_weighed_and_names_a_pasted_photo_so(engine, mini_dir, tmp_path,
                                                                                    monkeypatch):
    import shutil

    from gui import backend
    from gui.query_panel import QueryState

    pasted = tmp_path / backend.PASTED_FOLDER / "pasted-k2j4x9.png"
    pasted.parent.mkdir()
    shutil.copy(mini_dir / "images" / "P005.png", pasted)
    match = SimpleNamespace(facts="facts", result_image=None, query_image=None, explanation=SimpleNamespace(score=0.5))
    monkeypatch.setattr(backend, "explain", lambda *a, **kw: match)
    monkeypatch.setattr(backend, "write_rationale", lambda *a, **kw: None)
    seen = {}
    monkeypatch.setattr("explain.report.render_html", lambda queries, meta: seen.setdefault("q", queries[0]) and "h")
    pk = engine.catalog.pk_for_sku("P001")
    for query, weights, name in ((QueryState("red shirt", str(pasted), 0.8), "weighed: photo 80 %, words 20 %",
                                  "pasted photo"),
                                 (QueryState("", str(mini_dir / "images" / "P005.png"), 0.8), "", "P005.png"),
                                 (QueryState("red shirt", None, 0.8), "", ""),
                                 # the liked product's photo weighs as the query's: the slider moved the results
                                 (QueryState("red shirt", None, 0.8, like=(pk,)),
                                  "weighed: liked products' photos 80 %, words 20 %", "")):
        seen.clear()
        backend.report_html(engine, {}, query, [pk], "grad-cam vit", emit=lambda _p: None, cancelled=lambda: False)
        assert (seen["q"].weights, seen["q"].image_name) == (weights, name)
    reads = SimpleNamespace(words=SimpleNamespace(readable_words=lambda text: [w for w in text.split() if w.isalpha()]))
    for text, noted in (("👗👠💄", True), ("red dress", False)):  # the command line's report said so; the window's not
        seen.clear()
        backend.report_html(engine, {"explainer": reads}, QueryState(text), [pk], "grad-cam vit",
                            emit=lambda _p: None, cancelled=lambda: False)
        assert ("no words the text model reads" in seen["q"].note) == noted


def test_another_heatmap_keeps_the_match_shown_and_a_search_stops_its_explanation(qtbot, engine, settings, explaining,
                                                                                   monkeypatch):
    from gui import backend

    calls = []

    def explain(engine, holder, query, pk, method="grad-cam vit", score=None, *, shown=None, **_streams):
        explaining.wait(10)
        calls.append((method, shown is not None))
        title = engine.catalog.product(pk).title
        m = SimpleNamespace(words={}, result_maps={}, query_maps={}, faithfulness={}, match=None, score=0.5)
        return backend.ExplainedMatch(title, None, None, m, title, pk, query)

    monkeypatch.setattr(backend, "explain", explain)
    window = open_window(qtbot, engine.catalog.path, settings)
    window.show()
    window.query.text.setText("red shirt")
    window.query.text.returnPressed.emit()
    wait_idle(qtbot, window)
    click(qtbot, window.results.similar, 0)
    first = window.results.similar_model.row_at(0)
    qtbot.waitUntil(lambda: window.details.pk == first.pk, timeout=10000)
    wait_idle(qtbot, window)
    assert calls == [("grad-cam vit", False)]
    cleared, clear = [], window.details.clear
    window.details.clear = lambda *a, **kw: cleared.append(a) or clear(*a, **kw)
    window.details.method.setCurrentText("attention rollout")  # the match kept, only what the new map adds
    wait_idle(qtbot, window)
    assert calls[-1] == ("attention rollout", True) and cleared == [] and window.details.pk == first.pk
    window.details.clear = clear

    explaining.clear()  # an explanation under way when a search starts: stopped, not waited for
    click(qtbot, window.results.similar, 1)
    qtbot.waitUntil(lambda: "explain" in window._latest, timeout=5000)
    running = window._latest["explain"]
    window.query.text.setText("blue shirt")
    window.search()
    assert running.cancelled
    explaining.set()
    wait_idle(qtbot, window)
    assert window._searched.text == "blue shirt"


def test_coming_back_from_the_insights_tab_keeps_the_product_picked_on_the_map(qtbot, engine, settings):
    window = open_window(qtbot, engine.catalog.path, settings)
    window.show()
    window.activateWindow()
    qtbot.waitUntil(lambda: window.isActiveWindow(), timeout=5000)
    window.compute_insights("kmeans", "pca")
    wait_idle(qtbot, window)
    tabs, model = window.results.tabs, window.results.similar_model
    tabs.setCurrentWidget(window.insights)
    window.insights.map.setFocus()  # a click on the map
    qtbot.waitUntil(lambda: window.insights.map.hasFocus(), timeout=5000)
    picked = model.row_at(3).pk
    window.insights.map.clicked.emit(picked)
    wait_idle(qtbot, window)
    assert window._selected_pk == picked
    tabs.setCurrentWidget(window.results.similar)  # the map hides: the focus moves into the grid
    wait_idle(qtbot, window)
    assert window.results.similar.hasFocus() and window._selected_pk == picked  # not the first result's
    assert window.results.current_row() is None or window.results.current_row().pk == picked
    qtbot.keyClick(window.results.similar, Qt.Key_Right)  # the keyboard moves on from the card made current
    wait_idle(qtbot, window)
    assert window._selected_pk == window.results.current_row().pk != picked

    tabs.setCurrentWidget(window.insights)  # back on the map, then into the grid again: its current card, unchosen,
    window.insights.map.setFocus()  # is chosen by Enter (it took a click or an arrow key)
    window.insights.map.clicked.emit(picked)
    wait_idle(qtbot, window)
    tabs.setCurrentWidget(window.results.similar)
    wait_idle(qtbot, window)
    current = window.results.similar.currentIndex()
    assert window._selected_pk == picked != model.row_at(current.row()).pk
    qtbot.keyClick(window.results.similar, Qt.Key_Return)
    wait_idle(qtbot, window)
    assert window._selected_pk == model.row_at(current.row()).pk == window.results.current_row().pk


def test_a_product_picked_while_a_search_waits_stays_picked_with_its_goes_with_list(qtbot, engine, settings,
                                                                                    mini_dir, explaining,
                                                                                    monkeypatch):
    from core.ingest import import_copurchases
    from gui import backend

    import_copurchases(engine.catalog, mini_dir / "copurchase.csv")
    window = open_window(qtbot, engine.catalog.path, settings)
    wait_idle(qtbot, window)
    window.compute_insights("kmeans", "pca")
    wait_idle(qtbot, window)
    window.results.tabs.setCurrentWidget(window.insights)
    picked = next(pk for pk in window.engine.catalog.all_pks() if backend.goes_with(window.engine, int(pk))[0])
    explained, fake_explain = [], backend.explain
    monkeypatch.setattr(backend, "explain", lambda engine, holder, query, pk, *a, **k: explained.append(
        (pk, query.text)) or fake_explain(engine, holder, query, pk, *a, **k))
    gate, real = threading.Event(), backend.run_search
    monkeypatch.setattr(backend, "run_search", lambda *a, **k: gate.wait(20) and real(*a, **k))
    window.query.text.setText("blue shirt")
    window.search()  # waits (behind the models loading, say)
    window.insights.map.clicked.emit(int(picked))  # a point of the map clicked meanwhile
    qtbot.wait(50)
    gate.set()
    wait_idle(qtbot, window)
    assert window._searched.text == "blue shirt" and window._selected_pk == picked == window.details.pk
    assert window.results.goes_with_model.rowCount() > 0  # its list came (it was stopped, the details wiped)
    assert explained[-1] == (picked, "blue shirt")  # explained against the query of the results now shown

    gate.clear()  # picked while a search waits, then a second search (a filter changed) before the first answers
    window.query.text.setText("red shirt")
    window.search()
    other = next(int(pk) for pk in window.engine.catalog.all_pks() if pk != picked)
    window.insights.map.clicked.emit(other)
    qtbot.wait(50)
    window.query.text.setText("green shirt")
    window.search()  # it dropped the pick: only one made after the last search was asked was kept
    qtbot.wait(50)
    gate.set()
    wait_idle(qtbot, window)
    assert window._searched.text == "green shirt" and window._selected_pk == other == window.details.pk
    assert explained[-1] == (other, "green shirt")
    window.insights.map.clicked.emit(int(picked))  # chosen with the results shown: a search asked since drops it
    wait_idle(qtbot, window)
    window.query.text.setText("blue shirt")
    window.search()
    wait_idle(qtbot, window)
    assert window._selected_pk is None
    gate.clear()  # a search cancelled, then a pick with the results before still shown, then a search: dropped
    window.query.text.setText("red shirt")
    window.search()
    qtbot.waitUntil(lambda: window._latest["search"].started)
    window.cancel_all()
    window.insights.map.clicked.emit(int(picked))
    qtbot.wait(50)
    window.query.text.setText("green shirt")
    window.search()
    gate.set()
    wait_idle(qtbot, window)
    assert window._searched.text == "green shirt" and window._selected_pk is None

    gate.clear()  # picked, then Cancel: the pick's work stopped is not started again when the search answers
    window._run("models", lambda *, emit, cancelled: gate.wait(20), streams=True, on_result=lambda _none: None)
    window.query.text.setText("red summer dress")
    window.search()  # waits behind the models: Cancel keeps it
    other = next(int(pk) for pk in window.engine.catalog.all_pks() if pk != picked)
    window.insights.map.clicked.emit(other)
    qtbot.wait(50)
    assert window._selected_pk == other
    window.cancel_all()
    calls = len(explained)
    gate.set()
    wait_idle(qtbot, window)
    assert window._searched.text == "red summer dress" and window._selected_pk is None and len(explained) == calls

    gate.clear()  # a card of the results before, clicked while the search waits, that the new ones leave out
    window.results.tabs.setCurrentWidget(window.results.similar)
    model = window.results.similar_model
    left_out = model.row_at(model.rowCount() - 1).pk
    monkeypatch.setattr(backend, "run_search", lambda *a, **k: gate.wait(20) and [
        r for r in real(*a, **k) if r.pk != left_out])
    window.query.text.setText("blue shirt")
    window.search()
    window.results.similar.setCurrentIndex(model.index(model.rowCount() - 1, 0))
    qtbot.wait(50)
    assert window._selected_pk == left_out
    gate.set()
    wait_idle(qtbot, window)
    assert window._selected_pk is None and window.details.pk is None  # not "why it matches" for an unlisted one


def test_a_search_into_an_empty_grid_says_it_is_searching(qtbot, engine, settings, monkeypatch):
    from gui import backend

    window = open_window(qtbot, engine.catalog.path, settings)
    wait_idle(qtbot, window)
    window.query.text.setText("")
    window.search()
    assert window.results.similar.placeholder.startswith("Type a description")
    gate, real = threading.Event(), backend.run_search
    monkeypatch.setattr(backend, "run_search", lambda *a, **k: gate.wait(20) and real(*a, **k))
    window.query.text.setText("red summer dress")
    window.search()  # it said "Type a description" with the words in the box while it ran
    assert window.results.similar.placeholder == "Searching…"
    gate.set()
    wait_idle(qtbot, window)
    assert window.results.similar_model.rowCount() > 0
