"""What the window is given besides searches: a settings file edited by hand, the recent catalogs of the last
session, a catalog that is gone, a photo that cannot be read, a catalog named on the command line (pytest-qt)."""
import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMessageBox


@pytest.fixture(autouse=True)
def fake_models(monkeypatch):
    from tests.fakes import fake_spaces

    monkeypatch.setattr("core.spaces.default_spaces", fake_spaces)


def open_window(qtbot, path, settings):
    from gui.main_window import MainWindow

    window = MainWindow(path, demo=False, settings=settings)
    qtbot.addWidget(window)
    window.query.text.setText("red summer dress")  # typed while it opens: only the demo opens with a query
    qtbot.waitUntil(lambda: not window._workers, timeout=20000)
    return window


def test_a_settings_file_edited_by_hand_does_not_stop_the_window(qtbot, engine, tmp_path):
    ini = tmp_path / "settings.ini"
    ini.write_text("[details]\nopacity=abc\nmethod=a, b\n[window]\ngeometry=garbage\nsplitter=garbage\n"
                   "[rationale]\nmodel=x, y\n")
    window = open_window(qtbot, engine.catalog.path, QSettings(str(ini), QSettings.IniFormat))
    assert window.details.opacity.value() == 60 and window.details.method.currentText() == "grad-cam vit"
    assert window._setting("rationale/model", str) is None  # a list is no model path: the bundled model
    assert sum(window.splitter.sizes()) > 0 and window.width() > 0


def test_the_recent_catalogs_survive_a_restart_and_a_gone_one_leaves_the_list(qtbot, engine, tmp_path):
    ini = str(tmp_path / "settings.ini")
    window = open_window(qtbot, engine.catalog.path, QSettings(ini, QSettings.IniFormat))
    window.settings.sync()
    window.close()
    again = open_window(qtbot, engine.catalog.path, QSettings(ini, QSettings.IniFormat))  # the next session
    assert [a.text() for a in again.recent_menu.actions()] == [engine.catalog.path.name]  # not its letters
    gone = tmp_path / "gone.vitrina"
    again.settings.setValue("recent", [str(gone), str(engine.catalog.path)])
    again.open_catalog(gone)  # a recent catalog deleted since
    qtbot.waitUntil(lambda: again.engine is not None, timeout=20000)  # the one open before is back
    assert again.engine.catalog.path == engine.catalog.path and again.query.isEnabled()
    assert "No catalog at" in again.findChild(QMessageBox).text()
    assert [a.text() for a in again.recent_menu.actions()] == [engine.catalog.path.name]


def test_a_catalog_that_fails_to_open_first_says_none_is_open_and_menus_say_so(qtbot, tmp_path):
    window = open_window(qtbot, tmp_path / "gone.vitrina", QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat))
    assert window.engine is None and window.catalog_label.text().startswith("No catalog open")
    window.export_report(False, folder=str(tmp_path))
    assert window.statusBar().currentMessage().startswith("No catalog is open yet")


def test_a_photo_that_cannot_be_read_is_refused_and_the_query_keeps_its_own(qtbot, engine, tmp_path, mini_dir):
    window = open_window(qtbot, engine.catalog.path, QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat))
    good = str(mini_dir / "images" / "P005.png")
    window.query.set_image_file(good)
    (tmp_path / "fake.png").write_text("not a picture")
    refused = []
    window.query.refused.connect(refused.append)
    window.query.set_image_file(str(tmp_path / "fake.png"))
    assert refused and "fake.png" in refused[0] and window.query.image_path == good
    assert not window.query.drop.pixmap().isNull()  # its photo still shown
    qtbot.waitUntil(lambda: window.findChild(QMessageBox) is not None, timeout=5000)
    window.findChild(QMessageBox).deleteLater()
    window.query.text.setText("green shoe")  # searching goes on with the photo it had
    window.query.text.returnPressed.emit()
    qtbot.waitUntil(lambda: not window._workers, timeout=20000)
    assert window.results.similar_model.rowCount() > 0


def test_a_catalog_named_on_the_command_line_opens_the_app_whatever_its_case(monkeypatch):
    import gui.app
    import main

    opened = []
    monkeypatch.setattr(gui.app, "run_app", lambda argv: opened.append(argv) or 0)
    for name in ("Shop.VITRINA", "shop.vitrina/", "shop.vitrina"):
        assert main.main([name]) == 0
    assert opened == [["Shop.VITRINA"], ["shop.vitrina/"], ["shop.vitrina"]]


def test_a_splitter_state_of_another_layout_or_cut_short_gets_the_default_columns(qtbot, engine, tmp_path):
    from PySide6.QtCore import QByteArray
    from PySide6.QtWidgets import QLabel, QSplitter

    two = QSplitter()  # what a layout of two columns saves (another version)
    qtbot.addWidget(two)
    for text in "ab":
        two.addWidget(QLabel(text))
    two.setSizes([300, 500])
    for name, state in (("two", two.saveState()), ("cut", QByteArray(b"\x00\x00\x00\xff"))):
        ini = str(tmp_path / f"{name}.ini")
        settings = QSettings(ini, QSettings.IniFormat)
        settings.setValue("window/splitter", state)
        window = open_window(qtbot, engine.catalog.path, settings)
        window.show()
        qtbot.waitExposed(window)
        columns = [window.splitter.widget(i) for i in range(3)]
        # the details (or the results and the details) were 0 px wide, and saved so for the next session
        assert all(size >= (c.minimumWidth() or c.minimumSizeHint().width())
                   for size, c in zip(window.splitter.sizes(), columns)), (name, window.splitter.sizes())
        window.close()
        saved = QSettings(ini, QSettings.IniFormat).value("window/splitter")
        assert not window._columns_fit(state) and window._columns_fit(saved)  # a good one is restored as it is
    window.splitter.setSizes([300, 900, 0])  # the user closed the details column: kept so, not reset
    assert window._columns_fit(window.splitter.saveState())
    window.splitter.setSizes([900, 0, 0])  # two closed: a state no layout of the window leaves
    assert not window._columns_fit(window.splitter.saveState())


def test_a_language_model_is_chosen_in_the_window_and_checked_when_chosen(qtbot, engine, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    settings = QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat)
    window = open_window(qtbot, engine.catalog.path, settings)
    notes = tmp_path / "notes.gguf"
    notes.write_text("not a model")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **kw: (str(notes), ""))
    action = next(a for a in window.menuBar().actions()[1].menu().actions()
                  if "Language Model for" in a.text().replace("&", ""))
    action.trigger()  # it could only be set by editing the settings file
    qtbot.waitUntil(lambda: window.findChild(QMessageBox) is not None, timeout=5000)
    assert "is not a GGUF language model file" in window.findChild(QMessageBox).text()
    assert settings.value("rationale/model") is None
    model = tmp_path / "bigger.gguf"
    model.write_bytes(b"GGUF\x03\x00\x00\x00")
    window.choose_language_model(str(model))
    assert settings.value("rationale/model") == str(model) and "bigger.gguf" in window.statusBar().currentMessage()
    window.set_language_model(None)
    assert settings.value("rationale/model") is None


def test_a_file_that_fails_to_open_leaves_the_open_catalogs_query_filters_clusters_and_selection(
        qtbot, engine, tmp_path):
    import shutil

    from PySide6.QtWidgets import QMessageBox

    window = open_window(qtbot, engine.catalog.path, QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat))
    window.compute_insights("kmeans", "pca")
    qtbot.waitUntil(lambda: not window._workers and window.insights.clustering is not None, timeout=20000)
    model = window.results.similar_model
    window.thumb(model.row_at(2).pk, model.row_at(2).title, True)  # more like this one
    combo = window.filters.combos["articleType"]
    combo.setCurrentIndex(combo.findData("Dresses"))
    qtbot.waitUntil(lambda: not window._workers and window._searched is not None, timeout=20000)
    qtbot.wait(500)  # the filters settle
    qtbot.waitUntil(lambda: not window._workers, timeout=20000)
    window.results.similar.setCurrentIndex(model.index(1, 0))
    qtbot.waitUntil(lambda: not window._workers, timeout=20000)
    picked, likes, rows = window._selected_pk, window.query.state().like, [model.row_at(i).pk for i in
                                                                            range(model.rowCount())]
    clusters = window.insights.list.count()
    (tmp_path / "notes.txt").write_text("not a catalog")
    for bad in (tmp_path / "notes.txt", tmp_path / "H&M.vitrina"):  # not a catalog; gone
        window.open_catalog(bad)
        qtbot.waitUntil(lambda: window.engine is not None and not window._workers, timeout=20000)
        for box in window.findChildren(QMessageBox):
            box.deleteLater()
        assert window.engine.catalog.path == engine.catalog.path
        assert window.query.state().like == likes and window.filters.combos["articleType"].currentData() == "Dresses"
        assert window.insights.list.count() == clusters and window.insights.clustering is not None
        assert [model.row_at(i).pk for i in range(model.rowCount())] == rows and window._selected_pk == picked
        assert window.results.current_row().pk == picked
    shutil.copy(engine.catalog.path, tmp_path / "H&M.vitrina")  # another catalog: nothing of the one before
    window.open_catalog(tmp_path / "H&M.vitrina")
    qtbot.waitUntil(lambda: window.engine is not None and not window._workers, timeout=20000)
    assert not window.query.state().like and window._selected_pk is None and window.insights.clustering is None
    assert [a.text() for a in window.recent_menu.actions()][0] == "H&&M.vitrina"  # shown as "H&M", not "HM"


def test_a_failed_open_brings_back_the_goes_with_list_in_front_and_the_clusters_being_computed(
        qtbot, engine, tmp_path, mini_dir, monkeypatch):
    import threading

    from core.ingest import import_copurchases
    from gui import backend

    import_copurchases(engine.catalog, mini_dir / "copurchase.csv")
    window = open_window(qtbot, engine.catalog.path, QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat))
    model, results = window.results.similar_model, window.results
    row = next(i for i in range(model.rowCount()) if backend.goes_with(window.engine, model.row_at(i).pk)[0])
    results.similar.setCurrentIndex(model.index(row, 0))
    qtbot.waitUntil(lambda: not window._workers and results.goes_with_model.rowCount() > 0, timeout=20000)
    listed = [results.goes_with_model.row_at(i).pk for i in range(results.goes_with_model.rowCount())]
    results.tabs.setCurrentWidget(results.goes_with)  # its list in front
    gate, real = threading.Event(), backend.insights
    monkeypatch.setattr(backend, "insights", lambda *a, **k: gate.wait(20) and real(*a, **k))
    window.compute_insights("kmeans", "pca")  # still computing when the bad file is opened
    (tmp_path / "notes.txt").write_text("not a catalog")
    window.open_catalog(tmp_path / "notes.txt")
    qtbot.waitUntil(lambda: window.findChild(QMessageBox) is not None, timeout=20000)  # it failed
    gate.set()
    qtbot.waitUntil(lambda: window.engine is not None and not window._workers, timeout=20000)
    for box in window.findChildren(QMessageBox):
        box.deleteLater()
    assert window._selected_pk == model.row_at(row).pk and results.tabs.currentWidget() is results.goes_with
    assert [results.goes_with_model.row_at(i).pk for i in range(results.goes_with_model.rowCount())] == listed
    assert window.insights.clustering is not None  # asked for before the failed open: computed once it is back


def test_the_catalog_is_usable_while_its_models_load_and_a_model_that_cannot_load_is_said_once(
        qtbot, engine, tmp_path, monkeypatch):
    import threading

    from core.encoders import LazyEncoder
    from core.errors import EncoderError
    from core.spaces import Space
    from gui.main_window import MainWindow
    from tests.fakes import BagOfWordsEncoder, ColourGridEncoder

    gate, broken = threading.Event(), []

    def text_model():  # seconds of importing transformers, or a model that is not there
        gate.wait(20)
        if broken:
            raise EncoderError("The MiniLM text model is not installed")
        return BagOfWordsEncoder()

    text = BagOfWordsEncoder()
    monkeypatch.setattr("core.spaces.default_spaces", lambda: [
        Space("image", ColourGridEncoder(), "image"),
        Space("text", LazyEncoder(text_model, text.model_id, text.dim, frozenset({"text"})), "text")])
    window = MainWindow(engine.catalog.path, demo=False,
                        settings=QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat))
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.engine is not None, timeout=20000)  # open before its text model loaded
    assert window.query.isEnabled() and "models" in window._latest and not gate.is_set()
    window.query.text.setText("red summer dress")  # typed meanwhile: searched once the model is there
    window.search()
    assert window.results.similar.placeholder == "Searching once the models are loaded…"
    gate.set()
    qtbot.waitUntil(lambda: not window._workers, timeout=20000)
    assert window.results.similar_model.rowCount() > 0 and not window.findChildren(QMessageBox)

    gate.clear()
    broken.append(True)
    window.open_catalog(engine.catalog.path)  # its spaces made again: the text model is loaded again, and fails
    qtbot.waitUntil(lambda: window.engine is not None and "models" in window._latest, timeout=20000)
    window.search()
    gate.set()
    qtbot.waitUntil(lambda: not window._workers, timeout=20000)
    window.search()  # searched again while the box is up: not loaded again, not said again
    qtbot.waitUntil(lambda: not window._workers, timeout=20000)
    boxes = [b.text() for b in window.findChildren(QMessageBox)]
    assert len(boxes) == 1 and "MiniLM text model is not installed" in boxes[0]  # by the search, once


def test_a_search_cancelled_before_it_answered_says_so(qtbot, engine, tmp_path, monkeypatch):
    import threading

    from gui import backend
    from gui.main_window import MainWindow

    window = MainWindow(engine.catalog.path, demo=False,
                        settings=QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat))
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.engine is not None and not window._workers, timeout=20000)
    gate, real = threading.Event(), backend.run_search
    monkeypatch.setattr(backend, "run_search", lambda *a, **k: gate.wait(20) and real(*a, **k))
    window.query.text.setText("red summer dress")
    window.search()
    qtbot.waitUntil(lambda: window._latest["search"].started, timeout=20000)
    window.cancel_all()
    gate.set()
    qtbot.waitUntil(lambda: not window._workers, timeout=20000)
    assert window.results.similar_model.rowCount() == 0
    assert window.results.similar.placeholder.startswith("Search cancelled")


def test_only_the_demo_opens_with_a_query_of_its_own(qtbot, engine, tmp_path):
    from gui.main_window import MainWindow

    window = MainWindow(engine.catalog.path, demo=False,
                        settings=QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat))
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.engine is not None and not window._workers, timeout=20000)
    assert window.query.text.text() == "" and window.results.similar_model.rowCount() == 0
    assert "Type a description, drop a photo" in window.results.empty.text()
    window._catalog_opened(window.engine, demo=True)  # the demo catalog, opened
    qtbot.waitUntil(lambda: not window._workers, timeout=20000)
    assert window.query.text.text() == "red summer dress" and window.results.similar_model.rowCount() > 0


def test_a_cancel_or_another_failed_open_while_the_catalog_before_comes_back_keeps_it(qtbot, engine, tmp_path,
                                                                                       monkeypatch):
    import threading

    from PySide6.QtWidgets import QMessageBox

    from gui import backend

    window = open_window(qtbot, engine.catalog.path, QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat))
    model = window.results.similar_model
    window.thumb(model.row_at(2).pk, model.row_at(2).title, True)
    qtbot.waitUntil(lambda: not window._workers, timeout=20000)
    likes = window.query.state().like
    gate, real_open = threading.Event(), backend.open_catalog

    def slow_open(path, demo=False):  # the catalog before takes seconds to come back (its models load)
        if path == engine.catalog.path:
            gate.wait(20)
        return (yield from real_open(path, demo))

    monkeypatch.setattr(backend, "open_catalog", slow_open)
    (tmp_path / "notes.txt").write_text("not a catalog")
    for interrupt in (window.cancel_all, lambda: window.open_catalog(tmp_path / "gone.vitrina")):
        gate.clear()
        window.open_catalog(tmp_path / "notes.txt")
        qtbot.waitUntil(lambda: window._restoring, timeout=20000)  # the failed open brings the one before back
        interrupt()  # Cancel pressed, or another (failing) open, meanwhile: it lost the catalog and its state
        gate.set()
        qtbot.waitUntil(lambda: window.engine is not None and not window._workers, timeout=20000)
        for box in window.findChildren(QMessageBox):
            box.deleteLater()
        assert window.engine.catalog.path == engine.catalog.path and window.query.state().like == likes



def test_a_model_load_cut_short_by_quitting_is_not_said_missing(caplog):
    from types import SimpleNamespace

    from core.encoders import LazyEncoder
    from core.errors import EncoderError
    from gui import backend

    closed = []

    def shutting_down():  # the window closed while transformers was being imported
        closed.append(True)
        raise EncoderError("The MiniLM text model is not installed")

    def broken():
        raise EncoderError("The MiniLM text model is not installed")

    for factory, said in ((shutting_down, False), (broken, True)):
        caplog.clear()
        closed.clear()
        engine = SimpleNamespace(spaces={"text": SimpleNamespace(
            encoder=LazyEncoder(factory, "all-MiniLM-L6-v2", 384, frozenset({"text"})))})
        backend.load_models(engine, emit=lambda _p: None, cancelled=lambda: bool(closed))
        assert ("not installed" in caplog.text) == said


def test_a_small_window_keeps_its_width_once_the_filters_have_their_fields(qtbot, engine, tmp_path):
    """900 px wide: the filters' category lists (each a dozen characters at least) made the columns need 945 px,
    and the window widened itself on the first search, its right edge off a small screen."""
    window = open_window(qtbot, engine.catalog.path, QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat))
    window.resize(900, 600)
    window.show()
    qtbot.waitExposed(window)
    assert window.filters.combos  # the catalog's category fields are listed
    window.query.text.setText("blue shirt")
    window.query.changed.emit()
    qtbot.waitUntil(lambda: not window._workers and window.results.similar_model.rowCount() > 0, timeout=20000)
    qtbot.wait(50)
    assert window.width() == 900 and window.minimumSizeHint().width() <= 900
