"""The main window end to end with pytest-qt (offscreen): open, search, paste, select, explain, cancel."""
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QColor, QGuiApplication, QImage, QPalette
from PySide6.QtTest import QAbstractItemModelTester
from PySide6.QtWidgets import QMessageBox

from gui.results_model import BadgeRole, PkRole, ResultRow, ResultsModel, ScoreRole


@pytest.fixture(autouse=True)
def fake_models(monkeypatch):
    from tests.fakes import fake_spaces

    monkeypatch.setattr("core.spaces.default_spaces", fake_spaces)


@pytest.fixture
def settings(tmp_path):
    return QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat)


def open_window(qtbot, path, settings):
    from gui.main_window import MainWindow

    window = MainWindow(path, demo=False, settings=settings)
    qtbot.addWidget(window)
    window.query.text.setText("red summer dress")  # typed while it opens: only the demo opens with a query
    return window


def wait_idle(qtbot, window):
    qtbot.wait(5)  # work a selection starts on the next turn of the event loop (its heatmap, then its list)
    qtbot.waitUntil(lambda: not window._workers, timeout=20000)


def search_for(qtbot, window, text: str) -> None:
    """Types ``text``, presses Enter and waits for the results."""
    window.query.text.setText(text)
    window.query.text.returnPressed.emit()
    wait_idle(qtbot, window)


def test_results_model_passes_qt_model_tester(qtbot):
    model = ResultsModel()
    QAbstractItemModelTester(model, QAbstractItemModelTester.FailureReportingMode.Fatal)
    model.set_rows([ResultRow(i, f"S{i}", f"Title {i}", 1 - i / 1000, {"image": 0.5}, None) for i in range(1000)])
    idx = model.index(3, 0)
    assert model.rowCount() == 1000 and model.data(idx, PkRole) == 3
    assert model.data(idx, ScoreRole) == pytest.approx(0.997) and model.data(idx, BadgeRole) == "1.00"
    assert model.data(idx, Qt.ToolTipRole) == "Title 3\nid S3 - score 0.997 (image 0.500)"
    model.set_rows([ResultRow(7, "S7", "Bag", 0.04, {"bought together": 0.04}, None, "bought", "bought together")])
    assert model.data(model.index(0, 0), BadgeRole) == "bought"
    assert model.data(model.index(0, 0), Qt.ToolTipRole) == "Bag\nid S7 - bought together"
    model.set_rows([])
    assert model.rowCount() == 0


def test_opens_catalog_searches_and_filters(qtbot, engine, settings):
    window = open_window(qtbot, engine.catalog.path, settings)
    wait_idle(qtbot, window)
    assert "mini" in window.catalog_label.text() and window.results.similar_model.rowCount() > 0
    assert window.catalog_label.text().startswith("mini · 12 products · ")
    search_for(qtbot, window, "green shoe")
    assert window.results.similar_model.row_at(0).sku == "P011"
    window.filters.combos["articleType"].setCurrentIndex(
        window.filters.combos["articleType"].findData("Dresses"))
    wait_idle(qtbot, window)
    skus = {window.results.similar_model.row_at(i).sku for i in range(window.results.similar_model.rowCount())}
    assert skus == {"P005", "P006", "P007", "P008"}
    counted = window.results.empty.text()  # beside the count, as a cluster is: "4 results" hid the filter
    assert counted.startswith("4 results · filters:") and "Dresses" in counted, counted
    # a 1024 px laptop screen holds the three columns, the details at least DETAILS_MIN_WIDTH wide (they were
    # cut to 190 px, the photos and rationale clipped)
    from gui.main_window import DETAILS_MIN_WIDTH

    window.show()
    window.resize(1024, 640)
    qtbot.waitUntil(lambda: window.isVisible() and window.width() <= 1024, timeout=3000)
    assert window.minimumSizeHint().width() <= 1024 and window.splitter.sizes()[2] >= DETAILS_MIN_WIDTH


def test_a_price_range_half_typed_empty_is_said_in_the_results_not_in_a_box_that_takes_the_focus(
        qtbot, engine, settings):
    window = open_window(qtbot, engine.catalog.path, settings)
    wait_idle(qtbot, window)
    window.filters.price_min.setValue(30)
    window.filters.price_max.setValue(1)  # the "1" of "100", as the typing rests
    qtbot.wait(500)
    wait_idle(qtbot, window)
    assert not [box for box in window.findChildren(QMessageBox) if box.isVisible()]
    assert window.results.similar_model.rowCount() == 0
    assert "price range is empty (30 to 1)" in window.results.similar.placeholder
    window.filters.price_max.setValue(100)
    qtbot.wait(500)
    wait_idle(qtbot, window)
    assert window.results.similar_model.rowCount() > 0


def test_a_text_of_emoji_alone_is_searched_and_said_to_be_read_as_no_words(qtbot, engine, settings):
    window = open_window(qtbot, engine.catalog.path, settings)
    wait_idle(qtbot, window)
    search_for(qtbot, window, "👗👠🔥")
    assert window.results.similar_model.rowCount() > 0
    assert "no word the text model reads" in window.results.empty.text()
    search_for(qtbot, window, "green shoe")
    assert "text model" not in window.results.empty.text()


def test_paste_an_image_as_the_query(qtbot, engine, settings, mini_dir):
    window = open_window(qtbot, engine.catalog.path, settings)
    wait_idle(qtbot, window)
    clipboard = QGuiApplication.clipboard()
    clipboard.setImage(QImage(str(mini_dir / "images" / "P010.png")))  # the clipboard keeps its own copy
    window.query.text.clear()
    window.paste_image()
    wait_idle(qtbot, window)
    clipboard.clear()
    assert window.query.state().image_path and window.results.similar_model.row_at(0).sku == "P010"


def test_a_pasted_photo_is_written_off_the_window_s_thread_and_deleted_once_no_query_names_it(
        qtbot, engine, settings, mini_dir, tmp_path, monkeypatch):
    import tempfile
    import threading

    from gui import main_window

    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path))
    threads = []

    def save(image, path, real=main_window.save_pasted_photo):
        threads.append(threading.current_thread())
        return real(image, path)

    monkeypatch.setattr(main_window, "save_pasted_photo", save)
    window = open_window(qtbot, engine.catalog.path, settings)
    wait_idle(qtbot, window)
    window.query.text.clear()
    window.set_query_qimage(QImage(str(mini_dir / "images" / "P010.png")))
    wait_idle(qtbot, window)
    first = Path(window.query.state().image_path)
    assert first.parent == tmp_path / "vitrina-pasted" and first.exists() and window.query.drop._source is not None
    assert threads and threads[0] is not threading.main_thread()  # a 7000 px photo froze the window 7 s
    assert window.results.similar_model.row_at(0).sku == "P010"
    window.set_query_qimage(QImage(str(mini_dir / "images" / "P003.png")))
    wait_idle(qtbot, window)
    second = Path(window.query.state().image_path)
    assert window.results.similar_model.row_at(0).sku == "P003" and window._searched.image_path == str(second)
    assert second.exists() and not first.exists()  # searched no more, shown no more: gone
    window.close()
    assert not second.exists()


def test_a_paste_over_the_pixel_limit_is_refused_as_a_paste(qtbot, engine, settings, tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path))
    window = open_window(qtbot, engine.catalog.path, settings)
    wait_idle(qtbot, window)
    window.set_query_qimage(QImage(8000, 8000, QImage.Format_Mono))  # 8 MB as data, 64 million pixels
    box = window.findChild(QMessageBox)
    assert box is not None and "The pasted photo has too many pixels (8000x8000" in box.text()
    assert not list(tmp_path.glob("vitrina-pasted/*")) and window.query.state().image_path is None


def test_thumbs_refine_the_query(qtbot, engine, settings):
    window = open_window(qtbot, engine.catalog.path, settings)
    wait_idle(qtbot, window)
    first = window.results.similar_model.row_at(0)
    window.thumb(first.pk, first.title, False)
    wait_idle(qtbot, window)
    assert window.query.state().unlike == (first.pk,)
    rows = [window.results.similar_model.row_at(i).pk for i in range(window.results.similar_model.rowCount())]
    assert rows[0] != first.pk


def test_errors_are_shown_and_cancel_stops_work(qtbot, tmp_path, settings):
    window = open_window(qtbot, tmp_path / "missing.vitrina", settings)
    qtbot.waitUntil(lambda: window.findChild(QMessageBox) is not None, timeout=10000)
    assert "No catalog at" in window.findChild(QMessageBox).text()
    assert window.findChild(QMessageBox).detailedText() == ""  # what to do, with no traceback behind "Details"
    assert not window.query.isEnabled()
    window.cancel_all()
    wait_idle(qtbot, window)
    assert window.busy.isHidden()


def test_window_state_and_recent_catalogs_are_remembered(qtbot, engine, settings):
    window = open_window(qtbot, engine.catalog.path, settings)
    wait_idle(qtbot, window)
    window.details.opacity.setValue(25)
    window.close()
    assert settings.value("details/opacity") == 25 and settings.value("window/geometry") is not None
    assert settings.value("recent")[0] == str(engine.catalog.path)
    again = open_window(qtbot, engine.catalog.path, settings)
    assert again.details.opacity.value() == 25
    assert [a.text() for a in again.recent_menu.actions()] == ["mini.vitrina"]
    wait_idle(qtbot, again)


def test_reindex_runs_in_the_background(qtbot, engine, settings):
    window = open_window(qtbot, engine.catalog.path, settings)
    wait_idle(qtbot, window)
    window.reindex()
    wait_idle(qtbot, window)
    assert window.engine is not None and window.results.similar_model.rowCount() > 0


def test_reindex_leaves_out_a_photo_it_cannot_read_and_says_so(qtbot, engine, settings, monkeypatch):
    pk = engine.catalog.pk_for_sku("P003")
    with engine.catalog.transaction():  # a stale vector, whose photo has gone since
        engine.catalog.delete_embeddings("image", [pk])
    Path(engine.catalog.image_path(pk)).unlink()
    boxes = []
    monkeypatch.setattr(QMessageBox, "open", lambda box: boxes.append((box.text(), box.detailedText())))
    window = open_window(qtbot, engine.catalog.path, settings)
    wait_idle(qtbot, window)
    window.reindex()
    wait_idle(qtbot, window)  # it stopped at that photo with an error, the other products not embedded
    assert len(boxes) == 1 and "1 photo could not be read" in boxes[0][0] and boxes[0][1].startswith("P003: ")
    assert window.engine is not None and len(window.engine.indexes["text"]) == 12


def test_a_kept_adapt_opens_the_catalog_again_and_re_indexes_it(qtbot, engine, settings, monkeypatch):
    window = open_window(qtbot, engine.catalog.path, settings)
    wait_idle(qtbot, window)
    reindexed = []
    monkeypatch.setattr(window, "reindex", lambda: reindexed.append(window.engine.catalog.path))
    window._open_and_reindex(engine.catalog.path)  # what the adapt dialog's "kept" does
    qtbot.waitUntil(lambda: reindexed == [engine.catalog.path], timeout=20000)
    wait_idle(qtbot, window)
    window.open_catalog(engine.catalog.path)  # a later opening re-indexes nothing
    wait_idle(qtbot, window)
    assert reindexed == [engine.catalog.path]


@pytest.mark.weights
def test_selecting_a_result_shows_its_explanations(qtbot, engine, settings, tmp_path, monkeypatch):
    import torch

    from core.spaces import vit_space
    from core.vit import HybridViT, VitConfig, save_vit
    from tests.fakes import fake_spaces

    torch.manual_seed(0)
    weights = save_vit(HybridViT(VitConfig(dim=32, depth=1, heads=2)), tmp_path / "vit")
    monkeypatch.setattr("core.spaces.default_spaces", lambda: [*fake_spaces(), vit_space(weights)])
    settings.setValue("rationale/model", str(tmp_path / "no-model.gguf"))  # template rationales, and why
    window = open_window(qtbot, engine.catalog.path, settings)
    wait_idle(qtbot, window)
    window.results.similar.setCurrentIndex(window.results.similar_model.index(0, 0))
    qtbot.waitUntil(lambda: window.details.explanation is not None, timeout=60000)
    wait_idle(qtbot, window)
    assert "facts alone" in window.details.badge.text() and "unavailable" in window.details.badge.text()
    assert window.details.rationale.text().startswith("Recommended")
    assert "title" in window.details.words.text().lower() and "Faithfulness" in window.details.faithfulness.text()
    assert not window.details.result_view.pixmap().isNull()
    assert "perturbation" not in window.details.explanation.result_maps  # slow: made only when chosen
    words = window.details.words.text()
    window.details.method.setCurrentText("perturbation")  # the match kept; that map and its curves made
    assert "few seconds" in window.details.faithfulness.text() and window.details.title.text() == "Red dress"
    qtbot.waitUntil(lambda: window.details.explanation is not None
                    and "perturbation" in window.details.explanation.faithfulness, timeout=60000)
    wait_idle(qtbot, window)
    assert "Faithfulness" in window.details.faithfulness.text()
    assert window.details.curves.curves is window.details.explanation.faithfulness["perturbation"]
    assert window.details.words.text() == words and "grad-cam vit" in window.details.explanation.faithfulness


def test_cancel_discards_a_running_search(qtbot, engine, settings, monkeypatch):
    import time

    from gui import backend

    window = open_window(qtbot, engine.catalog.path, settings)
    wait_idle(qtbot, window)
    before = window.results.similar_model.rowCount()
    real = backend.run_search

    def slow(*args, **kw):
        time.sleep(1.0)
        return real(*args, **kw)[:1]

    monkeypatch.setattr(backend, "run_search", slow)
    window.query.text.setText("black shoe")
    window.search()
    assert not window.cancel_button.isHidden()
    window.cancel_all()
    wait_idle(qtbot, window)
    assert window.results.similar_model.rowCount() == before  # the cancelled result never landed
    assert window.cancel_button.isHidden()


@pytest.mark.weights
def test_export_report_from_the_window(qtbot, engine, settings, tmp_path, monkeypatch):
    import torch

    from core.spaces import vit_space
    from core.vit import HybridViT, VitConfig, save_vit
    from gui import report_pdf
    from gui.report_pdf import pdf_page_count
    from tests.fakes import fake_spaces

    torch.manual_seed(0)
    weights = save_vit(HybridViT(VitConfig(dim=32, depth=1, heads=2)), tmp_path / "vit")
    monkeypatch.setattr("core.spaces.default_spaces", lambda: [*fake_spaces(), vit_space(weights)])
    monkeypatch.setattr("explain.rationale.default_model_path", lambda: None)  # template rationales: fast
    window = open_window(qtbot, engine.catalog.path, settings)
    wait_idle(qtbot, window)
    (tmp_path / "a-file").write_text("")
    window.export_report(False, folder=str(tmp_path / "a-file"), limit=3)  # refused before any work
    assert not window._workers and "cannot be written" in window.findChild(QMessageBox).text()
    window.findChild(QMessageBox).deleteLater()

    def disk_full(html, part, path):
        raise OSError(28, "No space left on device")

    real_pdf = report_pdf._print
    monkeypatch.setattr(report_pdf, "_print", disk_full)
    window.export_report(False, folder=str(tmp_path), limit=3)
    qtbot.waitUntil(lambda: any("No space left" in b.text() for b in window.findChildren(QMessageBox)),
                    timeout=120000)
    assert not hasattr(window, "last_report")
    monkeypatch.setattr(report_pdf, "_print", real_pdf)
    wait_idle(qtbot, window)
    window.export_report(False, folder=str(tmp_path), limit=3)
    qtbot.waitUntil(lambda: hasattr(window, "last_report"), timeout=120000)
    html = Path(f"{window.last_report}.html").read_text()
    assert html.count('class="result"') == 3
    assert pdf_page_count(Path(f"{window.last_report}.pdf")) == 4
    assert "Clusters:" not in html and "cluster" not in html.split("<body>")[1]  # none computed: none named

    window.compute_insights("kmeans", "pca")  # with clusters, and the results kept to one of them
    wait_idle(qtbot, window)
    window.insights.list.setCurrentRow(1)
    wait_idle(qtbot, window)
    chosen = window.insights.chosen_cluster
    del window.last_report
    window.export_report(False, folder=str(tmp_path), limit=3)
    qtbot.waitUntil(lambda: hasattr(window, "last_report"), timeout=120000)
    html = Path(f"{window.last_report}.html").read_text()
    assert f"Clusters: {window.insights.clustering.summary()}" in html
    assert f"results only from the cluster “{chosen.name}” ({chosen.size} products)" in html
    assert html.count(f"· cluster {chosen.name}</p>") == html.count('class="result"') > 0

    from html import unescape

    # the whole query is said: the filters searched with, and the products liked and unliked (a "more like this"
    # query's report said no query at all)
    window.insights.list.setCurrentRow(0)  # all products
    window.filters.price_max.setValue(45)
    window.filters.rating_min.setValue(2.5)
    wait_idle(qtbot, window)
    qtbot.waitUntil(lambda: window._searched_filters is not None and window._searched_filters.price_max == 45)
    wait_idle(qtbot, window)
    liked, unliked = (engine.catalog.product(engine.catalog.pk_for_sku(sku)) for sku in ("P003", "P002"))
    window.query.text.setText("")
    window.thumb(liked.pk, liked.title, True)
    window.thumb(unliked.pk, unliked.title, False)
    wait_idle(qtbot, window)
    assert window._searched.like == (liked.pk,) and not window._searched.text
    del window.last_report
    window.export_report(False, folder=str(tmp_path), limit=2)
    qtbot.waitUntil(lambda: hasattr(window, "last_report"), timeout=120000)
    html = unescape(Path(f"{window.last_report}.html").read_text())
    assert "filters: price ≤ 45 · rating ≥ 2.5" in html and "results only from the cluster" not in html
    assert f"More like: {liked.title} (P003)" in html and f"Less like: {unliked.title} (P002)" in html
    assert "each result is explained against the first of these with a photo" in html


def test_insights_clusters_filter_results_and_the_map_selects(qtbot, engine, settings):
    window = open_window(qtbot, engine.catalog.path, settings)
    wait_idle(qtbot, window)
    window.compute_insights("kmeans", "pca")
    wait_idle(qtbot, window)
    assert window.insights.list.count() > 2 and "silhouette" in window.insights.quality.text()
    assert len(window.insights.map.items) == 12
    window.insights.list.setCurrentRow(1)  # the biggest cluster
    wait_idle(qtbot, window)
    members = set(window.cluster_pks)
    shown = {window.results.similar_model.row_at(i).pk for i in range(window.results.similar_model.rowCount())}
    assert shown and shown <= members
    window.insights.list.setCurrentRow(0)  # all products again
    wait_idle(qtbot, window)
    assert window.cluster_pks is None


def test_the_map_colours_by_a_field_marks_the_query_and_a_new_clustering_drops_the_old_limit(qtbot, engine, settings):
    from gui.insights_panel import OTHER, PALETTE, QUERY_NEIGHBOURS, query_position

    window = open_window(qtbot, engine.catalog.path, settings)
    wait_idle(qtbot, window)
    search_for(qtbot, window, "green shoe")
    window.results.tabs.setCurrentWidget(window.insights)  # not a list of results: no row, no count, no +/-
    assert window.results.current_row() is None and not window.results.up.isEnabled()
    assert window.results.empty.text() == ""
    window.compute_insights("kmeans", "pca")
    wait_idle(qtbot, window)
    panel = window.insights
    assert [panel.colour_by.itemData(i) for i in range(panel.colour_by.count())] == ["cluster", "articleType",
                                                                                     "baseColour"]
    assert panel.legend.isHidden()  # clusters: the list is the legend
    panel.colour_by.setCurrentIndex(panel.colour_by.findData("articleType"))
    types = engine.catalog.attribute_column("articleType")
    brush = {types[pk]: dot.brush().color().name() for pk, dot in panel.map.items.items()}
    for pk, dot in panel.map.items.items():
        assert dot.brush().color().name() == brush[types[pk]]
    assert len(set(brush.values())) == len(brush) and OTHER.name() not in brush.values()
    assert set(brush.values()) <= {c.name() for c in PALETTE}
    assert not panel.legend.isHidden() and all(t in panel.legend.text() for t in brush)
    model = window.results.similar_model
    results = [(model.row_at(i).pk, model.row_at(i).score) for i in range(model.rowCount())]
    assert panel.map.query_marker is not None
    assert panel.map.query_marker.pos() == query_position(panel.map.positions, results)
    outlined = {pk for pk, dot in panel.map.items.items() if dot.pen().style() != Qt.NoPen}
    assert outlined == {pk for pk, _ in results[:20]}
    window.insights.list.setCurrentRow(1)
    wait_idle(qtbot, window)
    assert window.cluster_pks is not None and panel.chosen_cluster is not None
    window.compute_insights("kmeans", "tsne")  # new clusters: the results are no longer kept to an old one
    wait_idle(qtbot, window)
    assert window.cluster_pks is None and panel.chosen_cluster is None and panel.list.currentRow() == 0
    assert panel.colour_by.currentData() == "articleType"  # the choice of colouring stays
    assert len(results) >= QUERY_NEIGHBOURS


def test_a_cluster_chosen_without_a_query_lists_its_products_most_typical_first(qtbot, engine, settings):
    import numpy as np

    window = open_window(qtbot, engine.catalog.path, settings)
    wait_idle(qtbot, window)
    window.compute_insights("kmeans", "pca")
    wait_idle(qtbot, window)
    window.query.text.clear()  # no query: the cluster browser shows the cluster itself
    wait_idle(qtbot, window)
    window.insights.list.setCurrentRow(1)
    wait_idle(qtbot, window)
    chosen = window.insights.chosen_cluster
    model = window.results.similar_model
    rows = [model.row_at(i) for i in range(model.rowCount())]
    assert {r.pk for r in rows} == set(window.insights.clustering.members(chosen.label))
    pks, vectors = engine.catalog.embeddings("image")
    members = np.isin(pks, [r.pk for r in rows])
    centre = vectors[members].mean(axis=0)
    expected = {int(p): float(v @ centre / np.linalg.norm(centre)) for p, v in zip(pks[members], vectors[members])}
    assert [r.score for r in rows] == sorted(r.score for r in rows)[::-1]
    assert all(r.score == pytest.approx(expected[r.pk], abs=1e-5) for r in rows)
    assert "typical of the cluster" in model.data(model.index(0, 0), Qt.ToolTipRole)
    assert window.insights.map.query_marker is None  # nothing to mark: there is no query
    assert window.details.title.text().startswith("Select a product to see what it is")  # no "why it matches"
    assert f"cluster “{chosen.name}”" in window.results.empty.text()  # what the list is, beside its count
    window.results.similar.setCurrentIndex(model.index(0, 0))  # nothing to explain it against: it says so
    qtbot.waitUntil(lambda: "type a description" in window.details.title.text(), timeout=5000)
    assert window.details.title.text().startswith(rows[0].title) and window.details.explanation is None
    product = engine.catalog.product(rows[0].pk)  # what it is: its photo and attributes
    assert not window.details.result_view.pixmap().isNull() and product.attributes["articleType"] in \
        window.details.words.text()
    window.insights.map.clicked.emit(rows[1].pk)  # a point of the map, the same
    qtbot.waitUntil(lambda: window.details.title.text().startswith(rows[1].title), timeout=5000)
    window.export_report(False, folder=str(engine.catalog.path.parent))  # no query to explain the results against
    assert not window._workers and "drop a photo first" in window.statusBar().currentMessage()
    window.filters.combos["articleType"].setCurrentIndex(
        window.filters.combos["articleType"].findData(engine.catalog.attribute_column("articleType")[rows[-1].pk]))
    wait_idle(qtbot, window)
    kept = {model.row_at(i).pk for i in range(model.rowCount())}
    types = engine.catalog.attribute_column("articleType")
    assert rows[-1].pk in kept and kept <= {r.pk for r in rows}  # the filters narrow the cluster, nothing else
    assert {types[pk] for pk in kept} == {types[rows[-1].pk]}


def test_searching_goes_on_while_the_insights_compute(qtbot, engine, settings, monkeypatch):
    import threading

    import core.insights

    release, started = threading.Event(), threading.Event()
    real_map = core.insights.embedding_map

    def slow_map(*args, **kwargs):  # a t-SNE of a large catalog: a minute
        started.set()
        release.wait(20)
        return real_map(*args, **kwargs)

    monkeypatch.setattr(core.insights, "embedding_map", slow_map)
    window = open_window(qtbot, engine.catalog.path, settings)
    wait_idle(qtbot, window)
    window.compute_insights("kmeans", "tsne")
    qtbot.waitUntil(started.is_set, timeout=10000)
    qtbot.waitUntil(lambda: "mapping them (tsne" in window.statusBar().currentMessage(), timeout=5000)
    window.query.text.setText("green shoe")
    window.query.text.returnPressed.emit()
    qtbot.waitUntil(lambda: window.results.similar_model.rowCount() and
                    window.results.similar_model.row_at(0).sku == "P011", timeout=10000)
    assert window.insights.clustering is None  # the search did not wait for the map
    release.set()
    wait_idle(qtbot, window)
    assert window.insights.clustering is not None and len(window.insights.map.items) == 12
    assert window.statusBar().currentMessage() == (f"Insights: {len(window.insights.clustering.clusters)} clusters "
                                                   "(KMeans), a t-SNE map of 12 products")  # not the last step's
    from PySide6.QtWidgets import QGraphicsPixmapItem

    thumbs = [i for i in window.insights.map.scene().items() if isinstance(i, QGraphicsPixmapItem)]
    assert len(thumbs) == 12 and all(max(t.pixmap().width(), t.pixmap().height()) == 28 for t in thumbs)


def test_cancelling_a_map_stops_it_quietly_and_the_next_one_runs(qtbot, engine, settings, monkeypatch):
    import threading

    import core.insights
    from core.errors import Cancelled

    started, stopped = threading.Event(), threading.Event()
    real_map = core.insights.embedding_map

    def endless_tsne(catalog, space, method="pca", *args, cancelled=None, **kwargs):
        if method != "tsne":
            return real_map(catalog, space, method, *args, cancelled=cancelled, **kwargs)
        started.set()
        while not cancelled():  # as the real one polls its child process
            threading.Event().wait(0.05)
        stopped.set()
        raise Cancelled("The map was cancelled.")

    monkeypatch.setattr(core.insights, "embedding_map", endless_tsne)
    window = open_window(qtbot, engine.catalog.path, settings)
    wait_idle(qtbot, window)
    window.compute_insights("kmeans", "tsne")
    qtbot.waitUntil(started.is_set, timeout=10000)
    window.cancel_button.click()
    qtbot.waitUntil(stopped.is_set, timeout=5000)
    wait_idle(qtbot, window)
    assert window.insights.clustering is None and not window.findChildren(QMessageBox)  # no error, nothing shown
    window.compute_insights("kmeans", "pca")  # not queued behind a t-SNE still computing
    wait_idle(qtbot, window)
    assert window.insights.clustering is not None and len(window.insights.map.items) == 12


def test_the_query_sits_among_its_best_results_weighted_by_score():
    from PySide6.QtCore import QPointF

    from gui.insights_panel import query_position

    positions = {1: QPointF(0, 0), 2: QPointF(10, 0), 3: QPointF(0, 10), 9: QPointF(20, 20), 10: QPointF(0, 0),
                 8: QPointF(1000, 1000)}
    at = query_position(positions, [(1, 0.75), (2, 0.25)])
    assert (at.x(), at.y()) == (pytest.approx(2.5, abs=1e-4), 0)
    # the five best results that are on the map (7 has no vectors there), the sixth (8) not
    at = query_position(positions, [(7, 0.9), (1, 0.5), (2, 0.5), (3, 0.5), (9, 0.5), (10, 0.5), (8, 0.5)])
    assert (at.x(), at.y()) == (pytest.approx(6, abs=1e-4), pytest.approx(6, abs=1e-4))
    assert query_position(positions, [(7, 0.9)]) is None


def test_goes_with_falls_back_to_known_pairs_and_says_why(engine):
    from core.complements import model_path
    from gui import backend

    cat = engine.catalog
    a, b = cat.all_pks()[:2]
    with cat.transaction():
        cat.add_copurchases([(a, b, 1.0)])
    rows, note = backend.goes_with(engine, a)
    assert [r.pk for r in rows] == [b]  # no model trained: the pairs, and what would add the model's picks
    assert note.startswith("Goes with: known co-purchases only.") and "Learn \"Goes with\"" in note
    path = model_path(cat)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not a model")
    rows, note = backend.goes_with(engine, a)
    assert [r.pk for r in rows] == [b]
    assert note.startswith("Goes with: known co-purchases only.") and "train it again" in note


def test_explained_photos_are_kept_at_the_size_the_panel_draws(tmp_path, mini_dir):
    """The panel redraws overlays on every opacity change: a 12-megapixel photo took half a second each."""
    import torch
    from PIL import Image

    from core.catalog import Catalog
    from core.engine import Engine
    from core.ingest import ColumnMapping, import_catalog
    from core.spaces import vit_space
    from core.vit import HybridViT, VitConfig, save_vit
    from explain.overlay import VIEW_SIDE
    from gui import backend
    from gui.query_panel import QueryState
    from tests.fakes import fake_spaces

    torch.manual_seed(0)
    spaces = [*fake_spaces(), vit_space(save_vit(HybridViT(VitConfig(dim=32, depth=1, heads=2)), tmp_path / "vit"))]
    cat = Catalog.create(tmp_path / "c.vitrina")
    list(import_catalog(cat, mini_dir / "products.csv", ColumnMapping.guess(["id", "title", "image"]), spaces))
    engine = Engine(cat, spaces)
    photo = tmp_path / "big.jpg"
    Image.open(cat.product(1).image_path).convert("RGB").resize((3000, 2000)).save(photo)
    match = backend.explain(engine, {}, QueryState(text="dress", image_path=str(photo)), 1)
    assert match.query_image.size == (VIEW_SIDE, round(VIEW_SIDE * 2 / 3))
    assert match.result_image.size == Image.open(cat.product(1).image_path).size  # a small photo stays as it is
    assert match.explanation.query_maps and match.explanation.faithfulness
    cat.close()


def test_goes_with_is_learned_in_the_app_and_says_what_is_missing(qtbot, tmp_path, engine, settings):
    from types import SimpleNamespace

    from core.catalog import Catalog
    from core.complements import model_path
    from core.errors import AppError
    from gui import backend
    from tests.test_complements import shop

    window = open_window(qtbot, engine.catalog.path, settings)
    wait_idle(qtbot, window)
    action = next(a for a in window.menuBar().actions()[0].menu().actions() if "Goes with" in a.text())
    action.trigger()  # the fixture catalog was imported without its pairs: nothing to learn from, and it says so
    qtbot.waitUntil(lambda: window.findChild(QMessageBox) is not None, timeout=20000)
    assert "no co-purchase pairs to learn from" in window.findChild(QMessageBox).text()
    assert not model_path(engine.catalog).exists()

    empty = Catalog.create(tmp_path / "empty" / "e.vitrina")
    nothing = SimpleNamespace(catalog=empty)
    assert backend.goes_with(nothing, 1) == ([], backend.NO_PAIRS_NOTE)
    with pytest.raises(AppError, match="no co-purchase pairs"):
        backend.train_goes_with(nothing, emit=lambda p: None, cancelled=lambda: False)
    cat, kinds = shop(tmp_path)
    engine = SimpleNamespace(catalog=cat)
    shown = []
    assert backend.train_goes_with(engine, emit=shown.append, cancelled=lambda: len(shown) >= 3) is None
    assert not model_path(cat).exists()  # cancelled: nothing saved
    assert [p.done for p in shown] == [0, 0, 1] and "epoch 1 of 30" in shown[-1].message  # stopped there
    model = backend.train_goes_with(engine, emit=lambda p: None, cancelled=lambda: False)
    assert model.info["pairs"] > 50 and model_path(cat).exists()
    new = [pk for pk in kinds if not cat.copurchased(pk)]
    pk = new[0] if new else sorted(kinds)[0]
    rows, note = backend.goes_with(engine, pk)
    assert note == "" and rows and any(r.parts and "bought together" not in r.parts for r in rows)
    for r in rows:  # one scale: "bought" for a known pair, the model's chance in percent for a pick
        known = "bought together" in r.parts
        assert (r.badge == "bought") == known and r.badge.endswith("bought" if known else " %")
        assert r.why.startswith("bought together" if known else "predicted: ")
        assert known or 0 < r.score < 1


def test_status_bar_progress_fills_for_a_task_that_counts_its_steps(qtbot, engine, settings):
    from core.progress import Progress

    window = open_window(qtbot, engine.catalog.path, settings)
    wait_idle(qtbot, window)
    window._show_progress(Progress(31, 61, "Goes with: ranker fitted on 2,990 held-out pairs"))
    assert (window.busy.maximum(), window.busy.value()) == (61, 31)
    assert window.statusBar().currentMessage() == "Goes with: ranker fitted on 2,990 held-out pairs"
    window._show_progress(Progress(0, None, "Searching"))
    assert window.busy.maximum() == 0  # not counted: busy
    window._show_progress(Progress(5, 10, "half"))
    window._set_busy(False)
    assert window.busy.maximum() == 0 and window.busy.isHidden()  # the next task starts busy

    import threading

    from gui import backend

    gate = threading.Event()  # a task that counted its steps ends while another goes on: busy, not 2/3 full
    counted = window._run("insights", lambda *, emit, cancelled: emit(Progress(2, 3, "Insights: map")),
                          streams=True, on_result=lambda _none: None, pool=window.insights_pool)
    window._run("models", lambda *, emit, cancelled: gate.wait(20), streams=True, on_result=lambda _none: None)
    qtbot.waitUntil(lambda: counted not in window._workers, timeout=20000)
    assert window.busy.maximum() == 0 and not window.busy.isHidden()
    window._show_progress(Progress(0, None, "Loading models…"))
    gate.set()
    wait_idle(qtbot, window)
    assert window.statusBar().currentMessage() == ""  # "Loading models…" stayed once they were loaded
    window.statusBar().showMessage("Report written: r.html and .pdf (4 pages)", 8000)
    window._run("goes-with", backend.goes_with, window.engine, window.results.similar_model.row_at(0).pk,
                on_result=lambda _rows: None)  # work that says nothing as it goes
    wait_idle(qtbot, window)
    assert window.statusBar().currentMessage() == "Report written: r.html and .pdf (4 pages)"  # not progress: kept


def test_the_insights_tab_says_how_many_products_hdbscan_left_out(qtbot):
    import numpy as np

    from core.insights import Cluster, Clustering
    from gui.backend import Insights
    from gui.insights_panel import OTHER, InsightsPanel

    panel = InsightsPanel()
    qtbot.addWidget(panel)
    clustering = Clustering("hdbscan", "vit", np.array([1, 2, 3]), np.array([0, 0, -1]),
                            (Cluster(0, 2, "Dresses", (("type", "Dress", 3.0),), ("dress",)),), 0.5, 0.7)
    panel_data = Insights(clustering, np.array([1, 2, 3]), np.array([[0, 0], [1, 0], [0, 1]], np.float32),
                          {}, {1: "Red dress", 3: "Blue shoe"}, {"type": {1: "Dress", 2: "Dress", 3: "Shoe"}}, "tsne")
    panel.show_insights(panel_data)
    assert panel.list.item(1).foreground().color().lightness() < 128  # a light theme: darker than the palette
    assert panel.quality.text() == ("1 cluster · silhouette 0.500 · Davies-Bouldin 0.700 · "
                                    "1 product in no cluster (grey)")
    assert (panel.method.currentData(), panel.map_method.currentData()) == ("hdbscan", "tsne")
    assert (panel.method.currentText(), panel.map_method.currentText()) == ("HDBSCAN", "t-SNE")
    assert panel.map.items[3].brush().color() == OTHER and panel.map.items[1].toolTip() == "Red dress"
    assert panel.map.items[2].toolTip() == "2"  # no title: its number
    panel.show_results([(1, 0.9)], mark_query=False)
    assert panel.map.items[1].pen().color() == panel.map.palette().color(QPalette.Text)

    dark = QPalette(panel.palette())  # dark mode: the cluster names and the results' rings stay readable
    for role, colour in ((QPalette.Base, QColor(30, 30, 30)), (QPalette.Text, QColor(235, 235, 235))):
        dark.setColor(role, colour)
    for widget in (panel.list, panel.map):
        widget.setPalette(dark)
    panel.show_insights(panel_data)
    panel.show_results([(1, 0.9)], mark_query=False)
    assert panel.list.item(1).foreground().color().lightness() > 128
    assert panel.map.items[1].pen().color() == QColor(235, 235, 235)


def test_the_map_paints_each_dot_in_its_colour_and_a_click_finds_its_product(qtbot):
    import numpy as np
    from PySide6.QtCore import QPointF
    from PySide6.QtTest import QTest

    from core.insights import Cluster, Clustering
    from gui.backend import Insights
    from gui.insights_panel import InsightsPanel

    panel = InsightsPanel()
    qtbot.addWidget(panel)
    panel.resize(900, 600)
    panel.show()
    pks = np.array([1, 2, 3, 4])
    clustering = Clustering("kmeans", "vit", pks, np.array([0, 0, 1, 1]),
                            (Cluster(0, 2, "Dresses", (), ()), Cluster(1, 2, "Shoes", (), ())), 0.5, 0.7)
    xy = np.array([[0, 0], [10, 0], [0, 10], [10, 10]], np.float32)
    panel.show_insights(Insights(clustering, pks, xy, {}, {1: "Red dress", 4: "Blue shoe"}, {}, "pca"))
    panel.show_results([(4, 0.9)], mark_query=False)
    view = panel.map
    shot = view.viewport().grab().toImage()
    for pk in map(int, pks):
        assert shot.pixelColor(view.mapFromScene(view.positions[pk])) == view.items[pk].brush().color()
    view.scale(8, 8)
    view.centerOn(view.positions[4])
    shot = view.viewport().grab().toImage()
    ringed = view.mapFromScene(view.positions[4] + QPointF(4, 0))  # the edge of the outlined dot: its ring
    assert shot.pixelColor(ringed) == view.palette().color(QPalette.Text)
    view.centerOn(view.positions[3])
    unringed = view.mapFromScene(view.positions[3] + QPointF(3.5, 0))  # no ring: its own colour to the edge
    assert view.viewport().grab().toImage().pixelColor(unringed) == view.items[3].brush().color()
    view.resetTransform()
    view.fitInView(view.scene().itemsBoundingRect(), Qt.KeepAspectRatio)
    clicks = []
    view.clicked.connect(clicks.append)
    for pk in (3, 1):
        QTest.mouseClick(view.viewport(), Qt.LeftButton, Qt.NoModifier, view.mapFromScene(view.positions[pk]))
    QTest.mouseClick(view.viewport(), Qt.LeftButton, Qt.NoModifier,
                     view.mapFromScene(view.positions[1] + QPointF(300, 300)))
    assert clicks == [3, 1]  # nothing under the last click
    panel.show_results([(3, 0.8), (2, 0.7), (99, 0.5)], mark_query=False)  # the next search's results
    outlined = {pk for pk, dot in view.items.items() if dot.pen().style() != Qt.NoPen}
    assert outlined == view.outlined == {2, 3} and view.items[4].zValue() == 1 and view.items[3].zValue() == 2
    assert sorted(int(ring.data(0)) for ring in view.rings) == [2, 3]
    panel.show_results([], mark_query=False)
    assert all(dot.pen().style() == Qt.NoPen for dot in view.items.values()) and not view.rings


def test_the_cluster_list_goes_above_the_map_when_the_tab_is_tall(qtbot):
    from gui.insights_panel import InsightsPanel

    panel = InsightsPanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.resize(500, 800)  # the window's middle column: the map gets the whole width
    qtbot.waitUntil(lambda: panel.split.orientation() == Qt.Vertical)
    assert panel.map.width() > 400 and panel.map.height() > panel.list.height()
    panel.resize(1300, 700)  # a wide tab: the list beside the map
    qtbot.waitUntil(lambda: panel.split.orientation() == Qt.Horizontal)
    assert panel.map.width() > panel.list.width() and panel.map.height() > 500


def test_opening_another_catalog_drops_the_clusters_and_the_limit_of_the_one_before(qtbot, engine, settings,
                                                                                      monkeypatch):
    import threading

    import core.insights

    window = open_window(qtbot, engine.catalog.path, settings)
    wait_idle(qtbot, window)
    window.compute_insights("kmeans", "pca")
    wait_idle(qtbot, window)
    window.insights.list.setCurrentRow(1)
    wait_idle(qtbot, window)
    assert window.cluster_pks is not None and window.insights.map.items
    window.query.add_unlike(window.results.similar_model.row_at(0).pk, "a product")
    window.open_catalog(engine.catalog.path)  # e.g. imported again: other products, other pks
    wait_idle(qtbot, window)  # once it is open, nothing of the one before is used
    assert window.insights.clustering is None and window.cluster_pks is None
    assert window.query.state().unlike == ()  # "less like this" named products of the catalog before
    assert window.insights.list.count() == 0 and not window.insights.map.items
    assert not window.insights.map.scene().items()
    shown = {window.results.similar_model.row_at(i).pk for i in range(window.results.similar_model.rowCount())}
    assert len(shown) == 12  # the search is no longer kept to the old cluster

    release, started = threading.Event(), threading.Event()
    real_map = core.insights.embedding_map

    def slow_map(*args, **kwargs):
        started.set()
        release.wait(20)
        return real_map(*args, **kwargs)

    monkeypatch.setattr(core.insights, "embedding_map", slow_map)
    window.compute_insights("kmeans", "pca")
    qtbot.waitUntil(started.is_set, timeout=10000)
    window.open_catalog(engine.catalog.path)  # the map of the catalog before arrives after this: not shown
    release.set()
    wait_idle(qtbot, window)
    assert window.insights.clustering is None and not window.insights.map.items


def test_a_rationale_states_the_similarity_its_card_shows(qtbot, engine, settings, tmp_path, monkeypatch):
    import torch

    from core.spaces import vit_space
    from core.vit import HybridViT, VitConfig, save_vit
    from gui import backend
    from tests.fakes import fake_spaces

    torch.manual_seed(0)
    weights = save_vit(HybridViT(VitConfig(dim=32, depth=1, heads=2)), tmp_path / "vit")
    monkeypatch.setattr("core.spaces.default_spaces", lambda: [*fake_spaces(), vit_space(weights)])
    explained = []
    real = backend.explain
    monkeypatch.setattr(backend, "explain", lambda *a, **k: explained.append(real(*a, **k)) or explained[-1])
    window = open_window(qtbot, engine.catalog.path, settings)
    wait_idle(qtbot, window)
    window.results.similar.setCurrentIndex(window.results.similar_model.index(1, 0))
    qtbot.waitUntil(lambda: bool(explained), timeout=60000)
    assert explained[-1].facts.score == pytest.approx(window.results.similar_model.row_at(1).score)
    assert explained[-1].facts.score != pytest.approx(explained[-1].explanation.score)  # not the ViT space's own
    wait_idle(qtbot, window)


def test_all_products_without_a_query_lists_nothing_and_a_map_click_fills_goes_with(qtbot, engine, settings,
                                                                                    mini_dir):
    from core.ingest import import_copurchases

    import_copurchases(engine.catalog, mini_dir / "copurchase.csv")
    window = open_window(qtbot, engine.catalog.path, settings)
    wait_idle(qtbot, window)
    window.compute_insights("kmeans", "pca")
    wait_idle(qtbot, window)
    window.query.text.setText("")
    window.insights.list.setCurrentRow(1)  # browsing a cluster without a query
    wait_idle(qtbot, window)
    assert window.results.similar_model.rowCount() == window.insights.chosen_cluster.size
    window.insights.list.setCurrentRow(0)  # all products, and still no query: nothing to list
    wait_idle(qtbot, window)
    assert window.results.similar_model.rowCount() == 0
    window.results.tabs.setCurrentWidget(window.results.similar)
    assert window.results.empty.text() == "Type a description, drop a photo, or choose a cluster in the Insights tab"
    window.results.tabs.setCurrentWidget(window.insights)
    with_pairs = next(pk for pk in engine.catalog.all_pks() if engine.catalog.copurchased(int(pk)))
    window.insights.map.clicked.emit(int(with_pairs))  # a product chosen on the map: its Goes with list
    wait_idle(qtbot, window)
    model = window.results.goes_with_model
    known = {b for b, _ in engine.catalog.copurchased(int(with_pairs))}
    assert {model.row_at(i).pk for i in range(model.rowCount())} >= known


def test_the_largest_clusters_get_the_palette_the_others_grey():
    from core.insights import Cluster
    from gui.insights_panel import OTHER, PALETTE, cluster_colours

    clusters = [Cluster(label, size, f"c{label}", (), ()) for label, size in enumerate(range(40, 0, -1))]
    colours = cluster_colours(clusters)
    assert [colours[c.label] for c in clusters[:12]] == PALETTE  # one colour each: none shared
    assert all(colours[c.label] == OTHER for c in clusters[12:])


def test_the_window_names_menus_where_core_names_commands():
    from gui.backend import in_window_words

    assert in_window_words("Train it again with `vitrina goes-with CATALOG --train`.") == \
        'Train it again with File > Learn "Goes with".'
    assert in_window_words("No vectors yet: run `vitrina index`.") == "No vectors yet: use File > Re-index."
    assert in_window_words("left out (`vitrina index`)") == "left out (File > Re-index)"


def test_cancel_while_a_catalog_opens_brings_back_the_one_before_or_says_none_is_open(qtbot, engine, settings,
                                                                                     tmp_path, monkeypatch):
    import threading

    from core.catalog import Catalog
    from core.progress import Progress
    from gui import backend

    window = open_window(qtbot, engine.catalog.path, settings)
    wait_idle(qtbot, window)
    Catalog.create(tmp_path / "other.vitrina").close()
    real, loading = backend.open_catalog, threading.Event()

    def slow_open(path, demo=False):  # the indexes of a large catalog: seconds
        yield Progress(0, None, "Loading models…")
        loading.wait(10)
        return (yield from real(path, demo))

    monkeypatch.setattr(backend, "open_catalog", slow_open)
    window.open_catalog(tmp_path / "other.vitrina")
    assert not window.cancel_button.isHidden()
    window.cancel_button.click()  # it stayed "Opening other.vitrina…" for good, with the query panel disabled
    loading.set()
    wait_idle(qtbot, window)
    assert window.engine is not None and window.engine.catalog.path == engine.catalog.path
    assert window.catalog_label.text().startswith("mini") and window.query.isEnabled()
    assert window.results.similar_model.rowCount() > 0 and not window.findChildren(QMessageBox)

    loading.clear()  # the first catalog of a session: none to go back to
    first = open_window(qtbot, engine.catalog.path, QSettings(str(tmp_path / "first.ini"), QSettings.IniFormat))
    first.cancel_button.click()
    loading.set()
    wait_idle(qtbot, first)
    none = "No catalog open: File > Open Catalog or Import Products…"
    assert first.engine is None and first.catalog_label.text() == none and first.results.empty.text() == none
    assert not first.query.isEnabled()


def test_a_search_that_fails_empties_the_results_and_says_why(qtbot, engine, settings, monkeypatch):
    from core.errors import EncoderError
    from gui import backend

    window = open_window(qtbot, engine.catalog.path, settings)
    wait_idle(qtbot, window)
    window.results.similar.setCurrentIndex(window.results.similar_model.index(0, 0))
    wait_idle(qtbot, window)
    assert window.results.similar_model.rowCount() > 0 and window._selected_pk is not None
    why = "The text model cannot be loaded."

    def fails(*args, **kwargs):  # the results of the query before stayed, with their count
        raise EncoderError(why)

    monkeypatch.setattr(backend, "run_search", fails)
    window.filters.price_min.setValue(80)
    window.filters.price_min.editingFinished.emit()
    qtbot.waitUntil(lambda: window.findChild(QMessageBox) is not None, timeout=10000)
    wait_idle(qtbot, window)
    assert [b.text() for b in window.findChildren(QMessageBox)] == [why]
    assert window.results.similar_model.rowCount() == 0 and window.results.empty.text() == f"No results. {why}"
    assert window._selected_pk is None and window._searched is None and window.details.title.text() == ""


def test_reindex_keeps_the_filters_the_query_and_the_selection(qtbot, engine, settings):
    window = open_window(qtbot, engine.catalog.path, settings)
    wait_idle(qtbot, window)
    combo = window.filters.combos["articleType"]
    combo.setCurrentIndex(combo.findData("Dresses"))
    wait_idle(qtbot, window)
    model = window.results.similar_model
    window.results.similar.setCurrentIndex(model.index(1, 0))
    wait_idle(qtbot, window)
    selected = model.row_at(1).pk
    window.reindex()
    wait_idle(qtbot, window)
    assert window.filters.combos["articleType"].currentData() == "Dresses"  # it was back at "—"
    assert {model.row_at(i).sku for i in range(model.rowCount())} == {"P005", "P006", "P007", "P008"}
    assert window._selected_pk == selected and window.results.current_row().pk == selected
    window.query.text.clear()
    window.query.text.returnPressed.emit()
    wait_idle(qtbot, window)
    window.reindex()
    wait_idle(qtbot, window)
    assert window.query.text.text() == "" and model.rowCount() == 0  # it typed "red summer dress" and searched


def test_a_task_whose_window_is_gone_ends_quietly(qtbot):
    """At Quit, Qt deletes the signals of a task still running: emitting on them raised into the crash hook."""
    import shiboken6

    from gui.workers import TaskWorker

    seen = []

    def task(*, emit, cancelled):
        emit("a step")
        seen.append(cancelled())  # nobody listens any more: it may stop
        raise ValueError("and a late error")

    worker = TaskWorker(task, streams=True)
    shiboken6.delete(worker.signals)
    worker.run()
    assert seen == [True]


def test_a_crash_on_a_worker_thread_is_shown_from_the_gui_thread(qtbot, monkeypatch):
    import sys
    import threading

    from gui import crash_dialog

    shown = []

    class Box:
        def __init__(self, report):
            self.report = report

        def exec(self):  # a dialog run on a worker thread blocked it for good (at Quit, the process hung)
            shown.append((threading.current_thread() is threading.main_thread(), self.report))

    monkeypatch.setattr(crash_dialog, "crash_box", Box)

    def crash():
        try:
            raise RuntimeError("Signal source has been deleted")
        except RuntimeError:
            crash_dialog.show_crash(*sys.exc_info())

    thread = threading.Thread(target=crash)
    thread.start()
    thread.join(10)
    assert not thread.is_alive() and shown == []
    qtbot.waitUntil(lambda: bool(shown), timeout=5000)
    assert shown[0][0] and "Signal source has been deleted" in shown[0][1]


def test_a_workers_error_has_a_traceback_only_when_it_is_a_fault_not_an_input_to_fix(qtbot):
    from core.errors import QueryError
    from gui.workers import TaskWorker

    said = []
    for exc in (QueryError("The price range is empty."), ValueError("a bug")):
        def task(exc=exc):
            raise exc
        worker = TaskWorker(task)
        worker.signals.error.connect(lambda message, details: said.append((message, details)))
        worker.run()
    assert said[0] == ("The price range is empty.", "")
    assert "Traceback" in said[1][1] and "ValueError: a bug" in said[1][1]
