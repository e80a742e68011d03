"""The window never shows, for the catalog or the product now chosen, what was computed for another: results of
work asked for before a catalog was opened, a product selected or a photo cleared are dropped (pytest-qt)."""
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QMessageBox


@pytest.fixture
def settings(tmp_path):
    return QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat)


@pytest.fixture(autouse=True)
def vit_models(monkeypatch, tmp_path):
    import torch

    from core.spaces import vit_space
    from core.vit import HybridViT, VitConfig, save_vit
    from tests.fakes import fake_spaces

    torch.manual_seed(0)
    weights = save_vit(HybridViT(VitConfig(dim=32, depth=1, heads=2)), tmp_path / "vit")
    monkeypatch.setattr("core.spaces.default_spaces", lambda: [*fake_spaces(), vit_space(weights)])


@pytest.fixture
def slow(monkeypatch):
    """Explanations and rationales that say which product they are of, each held until its gate opens."""
    from gui import backend

    gates = {"explain": threading.Event(), "rationale": threading.Event()}
    for gate in gates.values():
        gate.set()

    def explain(engine, holder, query, pk, method="grad-cam vit", score=None, **_streams):
        gates["explain"].wait(10)
        title = engine.catalog.product(pk).title
        m = SimpleNamespace(words={}, result_maps={}, query_maps={}, faithfulness={}, match=None, score=0.5)
        return backend.ExplainedMatch(title, None, None, m, title)

    def write_rationale(engine, holder, facts, model_path=None, *, emit, cancelled):
        emit(f"why {facts}")
        gates["rationale"].wait(10)
        return SimpleNamespace(text=f"why {facts}", kind="template", reason="fake", rejected=[])

    monkeypatch.setattr(backend, "explain", explain)
    monkeypatch.setattr(backend, "write_rationale", write_rationale)
    return gates


def reversed_catalog(tmp_path, mini_dir, spaces):
    """The same products imported in reverse order: the same pks name other products."""
    from core.catalog import Catalog
    from core.ingest import ColumnMapping, import_catalog

    lines = (mini_dir / "products.csv").read_text().splitlines()
    (mini_dir / "reversed.csv").write_text("\n".join([lines[0], *reversed(lines[1:])]) + "\n")
    cat = Catalog.create(tmp_path / "other.vitrina")
    mapping = ColumnMapping.guess(["id", "title", "description", "brand", "price", "rating", "image"]) \
        .with_overrides(categories=("articleType", "baseColour"))
    list(import_catalog(cat, mini_dir / "reversed.csv", mapping, spaces))
    cat.close()
    return tmp_path / "other.vitrina"


def open_window(qtbot, path, settings):
    from gui.main_window import MainWindow

    window = MainWindow(path, demo=False, settings=settings)
    qtbot.addWidget(window)
    window.query.text.setText("red summer dress")  # typed while it opens: only the demo opens with a query
    wait_idle(qtbot, window)
    return window


def wait_idle(qtbot, window):
    qtbot.wait(5)  # work a selection starts on the next turn of the event loop (its heatmap, then its list)
    qtbot.waitUntil(lambda: not window._workers, timeout=30000)


def report_until_cancelled(window, monkeypatch, folder):
    """Starts a report of the results shown that is written until Cancel; returns once it is being written."""
    from gui import backend

    writing = threading.Event()

    def report(*a, emit, cancelled, **k):
        writing.set()
        while not cancelled():
            time.sleep(0.01)
        return "<p>r</p>"

    monkeypatch.setattr(backend, "report_html", report)
    folder.mkdir()
    window.export_report(False, folder=str(folder), limit=3)
    assert writing.wait(10)


def goes_with_rows(window):
    model = window.results.goes_with_model
    return [model.row_at(i).pk for i in range(model.rowCount())]


def test_opening_another_catalog_drops_the_selection_and_what_was_computed_for_it(qtbot, engine, settings, tmp_path,
                                                                                   mini_dir, spaces, slow):
    from core.ingest import import_copurchases

    import_copurchases(engine.catalog, mini_dir / "copurchase.csv")
    other = reversed_catalog(tmp_path, mini_dir, spaces)
    window = open_window(qtbot, engine.catalog.path, settings)
    window.results.similar.setCurrentIndex(window.results.similar_model.index(0, 0))
    wait_idle(qtbot, window)
    assert goes_with_rows(window) and window.details.title.text()
    window.open_catalog(other)
    assert window._selected_pk is None and goes_with_rows(window) == [] and window.details.title.text() == ""
    assert window.results.similar_model.rowCount() == 0  # the results of the catalog before are gone
    window.select_result(3)  # a click that gets through while it opens: nothing, no error
    wait_idle(qtbot, window)
    window.details.method.setCurrentIndex(1)  # a heatmap chosen: nothing selected in this catalog to explain
    wait_idle(qtbot, window)
    assert window.details.title.text() == "Select a result to see why it matches." and window._selected_pk is None
    assert not window.findChildren(QMessageBox)

    slow["explain"].clear()  # an explanation still computing when the catalog before comes back
    window.results.similar.setCurrentIndex(window.results.similar_model.index(0, 0))
    qtbot.waitUntil(lambda: "explain" in window._latest, timeout=5000)
    window.open_catalog(engine.catalog.path)
    slow["explain"].set()
    wait_idle(qtbot, window)
    assert window.details.title.text() == "Select a result to see why it matches."
    assert window.details.rationale.text() == "" and not window.findChildren(QMessageBox)


def test_a_rationale_is_shown_only_beside_its_own_product(qtbot, engine, settings, slow):
    window = open_window(qtbot, engine.catalog.path, settings)
    slow["rationale"].clear()
    window.results.similar.setCurrentIndex(window.results.similar_model.index(0, 0))
    qtbot.waitUntil(lambda: window.details.rationale.text().startswith("why"), timeout=10000)
    window.results.similar.setCurrentIndex(window.results.similar_model.index(1, 0))  # while the first one writes
    slow["rationale"].set()
    wait_idle(qtbot, window)
    second = window.results.current_row()
    assert window.details.title.text() == second.title and window.details.rationale.text() == f"why {second.title}"
    window.copy_result()
    assert QGuiApplication.clipboard().text() == f"{second.sku}\t{second.title}\nwhy {second.title}"

    slow["explain"].clear()  # a new search while a result is explained: its explanation and rationale are dropped
    window.results.similar.setCurrentIndex(window.results.similar_model.index(2, 0))
    qtbot.waitUntil(lambda: "explain" in window._latest, timeout=5000)
    window.query.text.setText("green shoe")
    window.query.text.returnPressed.emit()
    slow["explain"].set()
    wait_idle(qtbot, window)
    assert window.details.title.text() == "Select a result to see why it matches."
    assert (window.details.rationale.text(), window.details.badge.text(), window._selected_pk) == ("", "", None)


def test_a_category_guessed_for_a_photo_cleared_since_is_dropped(qtbot, engine, settings, mini_dir, monkeypatch):
    from gui import backend

    window = open_window(qtbot, engine.catalog.path, settings)
    guessing = threading.Event()
    monkeypatch.setattr(backend, "classify", lambda engine, path: guessing.wait(10) and ("Dresses", 0.9))
    window.query.set_image_file(str(mini_dir / "images" / "P005.png"))
    qtbot.waitUntil(lambda: "classify" in window._latest, timeout=5000)
    window.query.set_image_file(None)
    guessing.set()
    wait_idle(qtbot, window)
    assert window.query.category.text() == "" and not window.query.same_category.isEnabled()


def test_a_report_ends_well_after_another_catalog_is_opened_and_closing_adapt_stops_it(qtbot, engine, settings, tmp_path,
                                                                               mini_dir, spaces, monkeypatch):
    from gui import backend, report_pdf
    from gui.adapt_dialog import AdaptDialog

    other = reversed_catalog(tmp_path, mini_dir, spaces)
    window = open_window(qtbot, engine.catalog.path, settings)
    writing = threading.Event()
    monkeypatch.setattr(backend, "report_html", lambda *a, emit, cancelled, **k: writing.wait(10) and "<p>r</p>")
    (tmp_path / "rep").mkdir()
    window.export_report(False, folder=str(tmp_path / "rep"), limit=3)
    window.open_catalog(other)
    printed_on = []
    real_pdf = report_pdf._print
    monkeypatch.setattr(report_pdf, "_print", lambda html, part, path: printed_on.append(
        threading.current_thread()) or real_pdf(html, part, path))
    writing.set()
    wait_idle(qtbot, window)
    assert sorted(p.name for p in (tmp_path / "rep").iterdir()) == ["vitrina-mini-red summer dress.html",
                                                                    "vitrina-mini-red summer dress.pdf"]
    assert printed_on and printed_on[0] is not threading.main_thread()  # the window did not freeze while it printed
    assert window.last_report == tmp_path / "rep" / "vitrina-mini-red summer dress"

    window.open_catalog(engine.catalog.path)
    wait_idle(qtbot, window)
    adapting = threading.Event()
    monkeypatch.setattr(backend, "adapt", lambda engine, *, emit, cancelled: adapting.wait(10) and SimpleNamespace(
        kept=True, held_out=3, before=0.1, after=0.2))
    dialogs = []
    monkeypatch.setattr(AdaptDialog, "open", lambda self: dialogs.append(self))
    window.adapt_model()
    dialogs[0].start()
    adapted = []
    dialogs[0].adapted.connect(adapted.append)
    dialogs[0].reject()  # closed while it learns: the training stops (unseen, it held up every search)
    assert dialogs[0].worker.cancelled
    window.open_catalog(other)
    adapting.set()
    wait_idle(qtbot, window)
    qtbot.waitUntil(lambda: not dialogs[0].cancel_button.isEnabled(), timeout=10000)
    assert adapted == [] and window.engine.catalog.path == other and not window.findChildren(QMessageBox)


def test_copy_takes_the_explained_product_and_a_new_search_empties_goes_with(qtbot, engine, settings, mini_dir,
                                                                               slow):
    from core.ingest import import_copurchases

    import_copurchases(engine.catalog, mini_dir / "copurchase.csv")
    window = open_window(qtbot, engine.catalog.path, settings)
    window.export_report(True, folder=".")  # nothing selected: it exported every result
    assert window.statusBar().currentMessage() == "Select a result first" and not window._workers
    window.results.similar.setCurrentIndex(window.results.similar_model.index(0, 0))
    wait_idle(qtbot, window)
    window.results.tabs.setCurrentWidget(window.results.goes_with)
    window.results.goes_with.setCurrentIndex(window.results.goes_with_model.index(0, 0))
    explained = window.results.goes_with_model.row_at(0)
    qtbot.waitUntil(lambda: window.details.rationale.text() == f"why {explained.title}", timeout=10000)
    window.results.tabs.setCurrentWidget(window.results.similar)  # its current card is another product
    window.copy_result()
    assert QGuiApplication.clipboard().text() == f"{explained.sku}\t{explained.title}\nwhy {explained.title}"
    window.query.text.setText("green shoe")
    window.query.text.returnPressed.emit()
    wait_idle(qtbot, window)
    assert window.results.goes_with_model.rowCount() == 0  # not the complements of a product no longer selected


def test_cancel_says_the_explanation_stopped(qtbot, engine, settings, slow, monkeypatch):
    from gui import backend

    listing = threading.Event()
    monkeypatch.setattr(backend, "goes_with", lambda engine, pk, k=30: listing.wait(10) and ([], ""))
    window = open_window(qtbot, engine.catalog.path, settings)
    slow["explain"].clear()
    window.results.similar.setCurrentIndex(window.results.similar_model.index(0, 0))
    qtbot.waitUntil(lambda: "explain" in window._latest, timeout=5000)
    assert window.results.goes_with.placeholder == "Finding what goes with it…"
    window.cancel_button.click()
    # its "Goes with" list, queued behind the heatmap, was stopped too: "Finding what goes with it…" stayed for good
    assert window.results.goes_with.placeholder == "Cancelled: select the product again to see what goes with it"
    slow["explain"].set()
    listing.set()
    wait_idle(qtbot, window)
    assert window.details.title.text().startswith("Cancelled: select the result again")
    assert window.results.goes_with.placeholder.startswith("Cancelled: select the product again")

    slow["rationale"].clear()  # Cancel while the rationale is written: its unchecked half is not left under
    window.results.similar.setCurrentIndex(window.results.similar_model.index(1, 0))  # "writing…"
    qtbot.waitUntil(lambda: window.details.rationale.text().startswith("why"), timeout=10000)
    window.cancel_button.click()
    slow["rationale"].set()
    wait_idle(qtbot, window)
    assert (window.details.rationale.text(), window.details.badge.text()) == (
        "", "cancelled: select the result again to write it")
    window.results.similar.current_clicked.emit()  # the same card again: written again (the click did nothing)
    wait_idle(qtbot, window)
    assert window.details.rationale.text() == f"why {window.results.current_row().title}"


def test_liked_products_without_a_photo_stand_in_for_the_query_by_their_title(engine):
    from core.engine import Engine
    from core.spaces import spaces_for
    from explain.facts import clean_text
    from gui import backend
    from gui.query_panel import QueryState

    liked = engine.catalog.pk_for_sku("P001")
    with engine.catalog.transaction():
        engine.catalog.set_image(liked, None)
    with_vit = Engine(engine.catalog, spaces_for(engine.catalog))  # the tiny ViT of this module's fixture
    assert "vit" in with_vit.spaces
    match = backend.explain(with_vit, {}, QueryState(like=(liked,)), engine.catalog.pk_for_sku("P002"))
    assert match.query_image is None and match.facts.query == clean_text(engine.catalog.product(liked).title)


def test_a_liked_product_standing_in_for_the_query_is_the_query_its_facts_state(engine):
    """"More like this" alone: the liked product's title and attribute values are the query's (the rationale read
    "close to the query photo", a photo the user never gave, and compared no attribute)."""
    from core.engine import Engine
    from core.spaces import spaces_for
    from explain.rationale import template_rationale
    from gui import backend
    from gui.query_panel import QueryState

    with_vit = Engine(engine.catalog, spaces_for(engine.catalog))
    liked = engine.catalog.pk_for_sku("P001")  # Red shirt, Tshirts, with a photo
    match = backend.explain(with_vit, {}, QueryState(like=(liked,)), engine.catalog.pk_for_sku("P002"))
    assert match.query_image is not None  # its photo is still the query's side of the maps
    facts = match.facts
    assert (facts.query, facts.query_photo) == ("Red shirt", False)
    assert facts.shared == {"articleType": "Tshirts"} and facts.differing == {"baseColour": ("Red", "Blue")}
    assert template_rationale(facts).startswith("Recommended because both share the article type Tshirts.")


def test_every_liked_product_is_part_of_the_query_its_facts_state(engine):
    """Two liked products: both are the query, with the values both have (the second was dropped); liked besides
    words: named with them (a result ranked by a liked product was "close to “red”" alone)."""
    from core.engine import Engine
    from core.spaces import spaces_for
    from explain.rationale import template_rationale
    from gui import backend
    from gui.query_panel import QueryState

    with_vit = Engine(engine.catalog, spaces_for(engine.catalog))
    red_shirt, red_dress = engine.catalog.pk_for_sku("P001"), engine.catalog.pk_for_sku("P005")
    both = backend.explain(with_vit, {}, QueryState(like=(red_shirt, red_dress)), engine.catalog.pk_for_sku("P009"))
    assert both.facts.query == "Red shirt and Red dress"
    assert both.facts.shared == {"baseColour": "Red"} and both.facts.differing == {}  # the one value both have
    with_words = backend.explain(with_vit, {}, QueryState(text="acme", like=(red_dress,)),
                                 engine.catalog.pk_for_sku("P010"))
    assert with_words.facts.query == "acme" and with_words.facts.liked == ("Red dress",)
    assert template_rationale(with_words.facts).startswith(
        "Recommended as close to “acme” and the liked product “Red dress”")


def test_the_rationale_states_the_sides_of_the_query_the_slider_weighs(engine):
    """A photo searched with words: the facts (and the template written from them) say the photo and the words as
    the slider weighs them; at "photo" the words are not what the result is close to, at "text" the photo is not."""
    from core.engine import Engine
    from core.spaces import spaces_for
    from explain.facts import PHOTO_QUERY
    from explain.rationale import template_rationale
    from gui import backend
    from gui.query_panel import QueryState

    with_vit = Engine(engine.catalog, spaces_for(engine.catalog))
    photo = engine.catalog.product(engine.catalog.pk_for_sku("P001")).image_path
    target = engine.catalog.pk_for_sku("P002")
    said = {}
    for weight in (1.0, 0.5, 0.0):
        match = backend.explain(with_vit, {}, QueryState(text="red dress", image_path=photo, image_weight=weight),
                                target)
        said[weight] = (match.facts.query, match.facts.query_photo, template_rationale(match.facts))
    assert said[1.0][:2] == (PHOTO_QUERY, True) and said[1.0][2].startswith("Recommended as close to the query photo")
    assert said[0.5][:2] == ("red dress", True) and "“red dress” and the query photo" in said[0.5][2]
    assert said[0.0][:2] == ("red dress", False) and "photo" not in said[0.0][2].split(".")[0]


def test_a_rationale_tells_of_the_heatmap_shown_not_of_one_it_fell_back_to(engine):
    from core.engine import Engine
    from core.spaces import spaces_for
    from explain.types import MATCH_MAP
    from gui import backend
    from gui.query_panel import QueryState

    with_vit = Engine(engine.catalog, spaces_for(engine.catalog))
    pk = engine.catalog.pk_for_sku("P002")
    shown = backend.explain(with_vit, {}, QueryState(text="red dress"), pk, "grad-cam vit")
    assert shown.facts.region is not None
    # a text query has no match map ("No match map for this query"): its rationale named the grad-cam's region
    unmapped = backend.explain(with_vit, {}, QueryState(text="red dress"), pk, MATCH_MAP)
    assert unmapped.explanation.match is None and unmapped.facts.region is None


def test_a_superseded_explanation_stops_between_model_passes(engine):
    from core.engine import Engine
    from core.spaces import spaces_for
    from gui import backend
    from gui.query_panel import QueryState

    with_vit = Engine(engine.catalog, spaces_for(engine.catalog))
    holder, passes = {}, []

    def cancelled():  # the first batch of model passes is scored, then the request is superseded
        passes.append(1)
        return len(passes) > 1

    pk = engine.catalog.pk_for_sku("P002")
    assert backend.explain(with_vit, holder, QueryState(text="red dress"), pk, "perturbation",
                           cancelled=cancelled) is None
    assert len(passes) == 2  # it stopped at the second batch, not after hundreds of passes
    again = backend.explain(with_vit, holder, QueryState(text="red dress"), pk, "grad-cam vit")
    assert again is not None and again.explanation.faithfulness  # the kept explainer is not left cancelled


def test_a_result_is_explained_against_the_query_searched_not_words_typed_since(qtbot, engine, settings, monkeypatch,
                                                                                tmp_path, slow):
    from gui import backend

    window = open_window(qtbot, engine.catalog.path, settings)
    asked = []
    fake_explain = backend.explain

    def explain(engine, holder, query, pk, method="grad-cam vit", score=None, **streams):
        asked.append((query.text, score))
        return fake_explain(engine, holder, query, pk, method, score, **streams)

    monkeypatch.setattr(backend, "explain", explain)
    window.query.text.setText("black leather handbag")  # typed, Enter not pressed yet
    card = window.results.similar_model.row_at(0)
    window.results.similar.setCurrentIndex(window.results.similar_model.index(0, 0))
    wait_idle(qtbot, window)
    assert asked == [("red summer dress", card.score)]  # the results' query, and the card's similarity

    reports = []
    monkeypatch.setattr(backend, "report_html", lambda engine, holder, query, pks, method, clustering, cluster, scores,
                        model_path, filters, *, emit, cancelled: reports.append((query.text, pks, scores))
                        or "<p>r</p>")
    (tmp_path / "rep").mkdir()
    window.export_report(False, folder=str(tmp_path / "rep"), limit=2)
    wait_idle(qtbot, window)
    rows = [window.results.similar_model.row_at(i) for i in range(2)]
    assert reports == [("red summer dress", [r.pk for r in rows], [r.score for r in rows])]
    assert (tmp_path / "rep" / "vitrina-mini-red summer dress.html").exists()


def test_cancel_stops_a_report_between_model_passes(engine, monkeypatch):
    from core.engine import Engine
    from core.spaces import spaces_for
    from gui import backend
    from gui.query_panel import QueryState

    monkeypatch.setattr("explain.rationale.default_model_path", lambda: None)  # template rationales: fast
    with_vit = Engine(engine.catalog, spaces_for(engine.catalog))
    checks = []

    def cancelled():  # the first result's perturbation map starts, then Cancel is pressed
        checks.append(1)
        return len(checks) > 2

    pks = [engine.catalog.pk_for_sku(sku) for sku in ("P002", "P003")]
    assert backend.report_html(with_vit, {}, QueryState(text="red dress"), pks, "perturbation",
                               emit=lambda _p: None, cancelled=cancelled) is None
    assert len(checks) == 3  # it stopped at the map's second batch, not after its hundreds of passes


def test_quit_during_a_report_stops_it(qtbot, engine, settings, tmp_path, monkeypatch):
    import time

    from gui import backend

    window = open_window(qtbot, engine.catalog.path, settings)
    started = threading.Event()

    def explain(engine, holder, query, pk, method="grad-cam vit", score=None, *, emit=None, cancelled=lambda: False):
        started.set()  # a perturbation map: it polls between its batches of model passes
        deadline = time.monotonic() + 20
        while not cancelled() and time.monotonic() < deadline:
            time.sleep(0.02)
        return None

    monkeypatch.setattr(backend, "explain", explain)
    (tmp_path / "rep").mkdir()
    window.export_report(False, folder=str(tmp_path / "rep"), limit=3)
    assert started.wait(10)
    t0 = time.monotonic()
    window.close()  # it waited 5 s, closed, and the report went on in a process that did not end
    assert time.monotonic() - t0 < 4 and window.pool.activeThreadCount() == 0
    assert not list((tmp_path / "rep").iterdir())


def test_closing_while_the_models_load_hides_the_window_at_once(qtbot, engine, settings, monkeypatch):
    from gui import backend
    from gui.main_window import MainWindow

    loading = threading.Event()

    def load_models(engine, *, emit, cancelled):  # an import of transformers: seconds, and it cannot be cut short
        loading.set()
        time.sleep(1.5)

    monkeypatch.setattr(backend, "load_models", load_models)
    window = MainWindow(engine.catalog.path, demo=False, settings=settings)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(loading.is_set, timeout=30000)
    seen = []
    real_wait = window.pool.waitForDone
    monkeypatch.setattr(window.pool, "waitForDone", lambda ms: seen.append(window.isVisible()) or real_wait(ms))
    window.close()  # it stayed on screen, unanswering, until the models were loaded
    assert seen == [False] and window.pool.activeThreadCount() == 0


def test_a_query_photo_deleted_since_gives_one_error_and_no_results_of_the_query_before(qtbot, engine, settings,
                                                                                        mini_dir, tmp_path):
    import shutil

    window = open_window(qtbot, engine.catalog.path, settings)
    photo = tmp_path / "pasted.png"  # e.g. pasted, in a temp folder cleaned since
    shutil.copy(mini_dir / "images" / "P005.png", photo)
    window.query.set_image_file(str(photo))
    wait_idle(qtbot, window)
    assert window.results.similar_model.rowCount() > 0
    photo.unlink()
    window.query.text.setText("green shoe")
    window.query.text.returnPressed.emit()
    wait_idle(qtbot, window)
    boxes = [b.text() for b in window.findChildren(QMessageBox)]
    assert len(boxes) == 1 and "does not exist" in boxes[0]  # the search's, and the category guess's again
    assert window.results.similar_model.rowCount() == 0 and window.results.empty.text() == f"No results. {boxes[0]}"


def test_a_result_that_cannot_be_explained_says_why_in_the_details(qtbot, engine, settings):
    from pathlib import Path

    window = open_window(qtbot, engine.catalog.path, settings)
    row = window.results.similar_model.row_at(0)
    Path(engine.catalog.product(row.pk).image_path).unlink()  # moved or deleted since the import
    window.results.similar.setCurrentIndex(window.results.similar_model.index(0, 0))
    wait_idle(qtbot, window)
    assert "does not exist" in window.findChild(QMessageBox).text()
    title = window.details.title.text()  # it said "Explaining…" for good, with the heatmap menu
    assert title.startswith(f"{row.title} cannot be explained: ") and "does not exist" in title
    assert window.details.controls.isHidden() and window.details.explanation is None


def test_a_search_after_another_process_changed_the_catalog_searches_what_it_holds_now(engine, tmp_path):
    from core.catalog import Catalog
    from core.ingest import ColumnMapping, import_catalog
    from core.progress import drain
    from gui import backend
    from gui.query_panel import QueryState
    from tests.fakes import fake_spaces

    before = backend.run_search(engine, QueryState(text="yellow hat"))
    assert "N100" not in [r.sku for r in before]
    (tmp_path / "new.csv").write_text("id,title\nN100,Yellow hat\n")
    with Catalog.open(engine.catalog.path) as other:  # the command line, importing while the window is open
        drain(import_catalog(other, tmp_path / "new.csv", ColumnMapping(id="id", title="title"), fake_spaces()))
    assert "text" in engine.changed_since_loaded()
    after = backend.run_search(engine, QueryState(text="yellow hat"))
    assert after[0].sku == "N100" and after[0].title == "Yellow hat" and not engine.changed_since_loaded()


def test_reports_never_replace_one_another_and_a_second_waits_for_the_first(qtbot, engine, settings, tmp_path,
                                                                             monkeypatch):
    from gui import backend

    window = open_window(qtbot, engine.catalog.path, settings)
    wait_idle(qtbot, window)
    writing = threading.Event()
    monkeypatch.setattr(backend, "report_html", lambda *a, emit, cancelled, **k: writing.wait(10) and "<p>r</p>")
    folder = tmp_path / "rep"
    folder.mkdir()
    window.export_report(False, folder=str(folder), limit=3)
    window.export_report(False, folder=str(folder), limit=3)  # at once: it cancelled the first, unsaid
    assert "A report is being written" in window.statusBar().currentMessage()
    window.query.text.setText("blue shirt")
    window.search()  # it waits behind the report: said
    assert "Searching once the report is written" in window.statusBar().currentMessage()
    writing.set()
    wait_idle(qtbot, window)
    window.query.text.setText("red summer dress")
    window.search()
    wait_idle(qtbot, window)
    window.export_report(False, folder=str(folder), limit=3)  # the same query again: a second name
    wait_idle(qtbot, window)
    window.results.similar.setCurrentIndex(window.results.similar_model.index(0, 0))
    wait_idle(qtbot, window)
    sku = window.results.similar_model.row_at(0).sku
    window.export_report(True, folder=str(folder))  # the selected result: its own name, not the one of all
    wait_idle(qtbot, window)
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        f"vitrina-mini-red summer dress{end}.{ext}" for end in ("", " (2)", f"-{sku}") for ext in ("html", "pdf"))

    writing.clear()  # Export again right after Cancel: the cancelled one does not refuse it
    window.export_report(False, folder=str(folder), limit=3)
    window.cancel_all()
    writing.set()
    window.export_report(False, folder=str(folder), limit=3)
    assert "A report is being written" not in window.statusBar().currentMessage()
    wait_idle(qtbot, window)
    assert (folder / "vitrina-mini-red summer dress (3).pdf").exists()

    long = "red summer dress " + "very " * 40  # a long query's selected result still names its product
    window.query.text.setText(long)
    window.search()
    wait_idle(qtbot, window)
    window.results.similar.setCurrentIndex(window.results.similar_model.index(0, 0))
    wait_idle(qtbot, window)
    window.export_report(True, folder=str(folder))
    wait_idle(qtbot, window)
    sku = window.results.similar_model.row_at(0).sku
    assert len(list(folder.glob(f"vitrina-mini-red summer dress very*-{sku}.html"))) == 1

    window.query.text.setText("")  # "more like this" alone: no words, no photo
    window.thumb(window.results.similar_model.row_at(0).pk, window.results.similar_model.row_at(0).title, True)
    wait_idle(qtbot, window)
    window.export_report(False, folder=str(folder), limit=3)
    wait_idle(qtbot, window)
    assert (folder / "vitrina-mini-more like this.html").exists() and not list(folder.glob("*photo*"))


def test_export_while_the_first_results_are_awaited_says_to_wait_for_them(qtbot, engine, settings, tmp_path,
                                                                           monkeypatch):
    from gui import backend

    answering, real_search = threading.Event(), backend.run_search
    monkeypatch.setattr(backend, "run_search", lambda *a, **k: answering.wait(10) and real_search(*a, **k))
    from gui.main_window import MainWindow

    window = MainWindow(engine.catalog.path, demo=False, settings=settings)
    qtbot.addWidget(window)
    assert window.results.similar.placeholder == "Opening mini.vitrina…"  # not "No results: loosen the filters"
    window.query.text.setText("red summer dress")  # typed while it opens
    qtbot.waitUntil(lambda: "search" in window._latest, timeout=30000)
    window.export_report(False, folder=str(tmp_path))  # it said "type a description first", with one typed
    assert "The results are not in yet" in window.statusBar().currentMessage()
    qtbot.waitUntil(lambda: window._latest["search"].started, timeout=30000)  # not waiting behind the models:
    window.cancel_all()  # cancelled (one waiting would stay), no results are coming
    window.export_report(False, folder=str(tmp_path))
    assert "type a description or drop a photo first" in window.statusBar().currentMessage()
    answering.set()
    wait_idle(qtbot, window)
    window.query.text.setText("")
    window.search()
    window.export_report(False, folder=str(tmp_path))  # no query at all: said as before
    assert "type a description or drop a photo first" in window.statusBar().currentMessage()


def test_cancel_stops_a_report_and_the_search_waiting_behind_it_runs(qtbot, engine, settings, tmp_path,
                                                                     monkeypatch):
    from gui import backend

    window = open_window(qtbot, engine.catalog.path, settings)
    wait_idle(qtbot, window)
    report_until_cancelled(window, monkeypatch, tmp_path / "rep")
    window.query.text.setText("blue shirt")
    window.search()  # queued behind the report
    window.cancel_all()  # "Cancel stops the report": not the search the box now says
    wait_idle(qtbot, window)
    assert window._searched.text == "blue shirt"
    assert window.results.similar_model.row_at(0).title == backend.run_search(
        window.engine, window._searched)[0].title
    assert not list((tmp_path / "rep").iterdir())  # the report stopped, unwritten
    window.query.text.setText("red dress")
    window.search()
    window.cancel_all()  # a search alone (nothing ahead of it) is cancelled as before
    wait_idle(qtbot, window)
    assert window._searched.text == "blue shirt"


def test_a_catalog_opened_while_a_report_is_written_says_it_waits_and_cancel_stops_only_the_report(
        qtbot, engine, settings, tmp_path, monkeypatch):
    import shutil

    window = open_window(qtbot, engine.catalog.path, settings)
    wait_idle(qtbot, window)
    other = tmp_path / "other.vitrina"
    shutil.copy(engine.catalog.path, other)
    report_until_cancelled(window, monkeypatch, tmp_path / "rep")
    window.open_catalog(other)  # one pool: it waits behind the report (it said only "Opening other.vitrina…")
    qtbot.wait(50)
    assert "once the report is written" in window.catalog_label.toolTip() and window.engine is None
    window.cancel_all()  # "Cancel stops the report": not the catalog asked for
    assert "once the report" not in window.catalog_label.toolTip()
    wait_idle(qtbot, window)
    assert window.engine is not None and window.engine.catalog.path == other
    assert not list((tmp_path / "rep").iterdir())  # the report stopped, unwritten


def test_a_selected_results_heatmap_is_made_before_its_goes_with_list(qtbot, engine, settings, monkeypatch):
    from gui import backend

    window = open_window(qtbot, engine.catalog.path, settings)
    order = []
    real_explain, real_goes_with = backend.explain, backend.goes_with
    monkeypatch.setattr(backend, "explain", lambda *a, **k: order.append("explain") or real_explain(*a, **k))
    monkeypatch.setattr(backend, "goes_with", lambda *a, **k: order.append("goes-with") or real_goes_with(*a, **k))
    window.results.similar.setCurrentIndex(window.results.similar_model.index(1, 0))
    wait_idle(qtbot, window)
    assert order == ["explain", "goes-with"]  # the first list loads its model: 1.5 s before the heatmap on H&M
    assert window.details.pk == window.results.similar_model.row_at(1).pk


def test_a_new_selection_never_shows_the_goes_with_list_of_the_one_before(qtbot, engine, settings, mini_dir,
                                                                           monkeypatch):
    import threading

    from core.ingest import import_copurchases
    from gui import backend

    import_copurchases(engine.catalog, mini_dir / "copurchase.csv")
    window = open_window(qtbot, engine.catalog.path, settings)
    model, listed = window.results.similar_model, window.results.goes_with_model
    window.results.similar.setCurrentIndex(model.index(0, 0))
    qtbot.wait(5)
    qtbot.waitUntil(lambda: not window._workers, timeout=20000)
    assert listed.rowCount()
    gate, real_explain = threading.Event(), backend.explain
    monkeypatch.setattr(backend, "explain", lambda *a, **k: gate.wait(20) and real_explain(*a, **k))
    window.results.similar.setCurrentIndex(model.index(1, 0))  # its heatmap is made first, its list after
    qtbot.waitUntil(lambda: "explain" in window._latest, timeout=5000)
    assert listed.rowCount() == 0 and "Finding what goes with it" in window.results.goes_with.placeholder
    gate.set()
    qtbot.waitUntil(lambda: not window._workers, timeout=20000)


@pytest.fixture
def pasting(monkeypatch, tmp_path):
    """Pasted photos in this test's temporary folder, each written once its gate opens."""
    import tempfile

    from gui import main_window

    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path))
    gate = threading.Event()
    gate.set()
    real = main_window.save_pasted_photo
    monkeypatch.setattr(main_window, "save_pasted_photo", lambda image, path: gate.wait(10) and real(image, path))
    return gate


def paste(window, mini_dir, sku):
    from PySide6.QtGui import QImage

    window.set_query_qimage(QImage(str(mini_dir / "images" / f"{sku}.png")))


def test_a_pasted_photo_a_report_reads_is_kept_until_the_report_is_written(qtbot, engine, settings, mini_dir,
                                                                            tmp_path, monkeypatch, pasting):
    from gui import backend

    window = open_window(qtbot, engine.catalog.path, settings)
    window.query.text.clear()
    paste(window, mini_dir, "P010")
    wait_idle(qtbot, window)
    first = Path(window._searched.image_path)
    gate, explained = threading.Event(), threading.Event()
    match = SimpleNamespace(facts="facts", result_image=None, query_image=None, explanation=SimpleNamespace(score=0.5))

    def explain(engine, holder, query, *a, **kw):  # the report reads the query photo again for each result
        backend._image(query.image_path)
        explained.set()
        gate.wait(10)
        return match

    monkeypatch.setattr(backend, "explain", explain)
    monkeypatch.setattr(backend, "write_rationale", lambda *a, **k: None)
    monkeypatch.setattr("explain.report.render_html", lambda queries, meta: "<p>r</p>")
    (tmp_path / "rep").mkdir()
    window.export_report(False, folder=str(tmp_path / "rep"), limit=2)
    assert explained.wait(20)
    window.query.clear_button.click()  # no photo searched: the results shown are no longer the first photo's
    paste(window, mini_dir, "P003")  # and another pasted: the first was deleted under the report
    qtbot.waitUntil(lambda: "paste" not in window._latest, timeout=10000)
    assert first.exists()
    gate.set()
    wait_idle(qtbot, window)
    assert not window.findChildren(QMessageBox) and len(list((tmp_path / "rep").glob("*.html"))) == 1
    assert not first.exists()  # read by nothing now: gone


def test_a_paste_written_after_another_photo_was_chosen_does_not_replace_it(qtbot, engine, settings, mini_dir,
                                                                            pasting):
    window = open_window(qtbot, engine.catalog.path, settings)
    pasting.clear()
    paste(window, mini_dir, "P010")  # a large photo takes seconds to write
    chosen = str(mini_dir / "images" / "P005.png")
    window.query.set_image_file(chosen)  # meanwhile File > Open Photo…
    pasting.set()
    wait_idle(qtbot, window)
    assert window.query.state().image_path == chosen and window._searched.image_path == chosen


def test_cancel_stops_a_report_not_the_photo_pasted_behind_it(qtbot, engine, settings, mini_dir, tmp_path,
                                                              monkeypatch, pasting):
    window = open_window(qtbot, engine.catalog.path, settings)
    report_until_cancelled(window, monkeypatch, tmp_path / "rep")
    pasting.clear()
    paste(window, mini_dir, "P010")
    window.cancel_all()  # "Cancel stops the report": the photo just pasted was dropped, unsaid
    pasting.set()
    wait_idle(qtbot, window)
    photo = window.query.state().image_path
    assert photo and Path(photo).parent == tmp_path / "vitrina-pasted" and window._searched.image_path == photo


def test_cancel_still_stops_a_catalog_opening_behind_work_that_is_no_report(qtbot, engine, settings, tmp_path,
                                                                            monkeypatch):
    import shutil

    from gui import backend

    window = open_window(qtbot, engine.catalog.path, settings)
    other = tmp_path / "other.vitrina"
    shutil.copy(engine.catalog.path, other)
    gate, loading = threading.Event(), threading.Event()

    def load_models(engine, *, emit, cancelled):  # a model import: seconds, not cut short
        loading.set()
        gate.wait(10)

    monkeypatch.setattr(backend, "load_models", load_models)
    window._run("models", backend.load_models, window.engine, streams=True, on_result=lambda _n: None)
    assert loading.wait(10)
    window.open_catalog(other)
    assert "once the report" not in window.catalog_label.toolTip()
    window.cancel_all()  # the catalog before comes back
    gate.set()
    wait_idle(qtbot, window)
    assert window.engine.catalog.path == engine.catalog.path


def test_a_catalog_replaced_since_it_was_opened_is_not_searched_and_says_so(engine, tmp_path):
    import os

    from core.catalog import Catalog
    from core.errors import CatalogError
    from gui import backend
    from gui.query_panel import QueryState

    assert backend.run_search(engine, QueryState(text="red shirt"))
    with Catalog.create(tmp_path / "backup.vitrina"):
        pass
    os.replace(tmp_path / "backup.vitrina", engine.catalog.path)  # a backup put back while the window is open
    with pytest.raises(CatalogError, match="Open it again"):
        backend.run_search(engine, QueryState(text="red shirt"))
