"""The first window: opens a catalog in the background and shows results (pytest-qt, offscreen)."""
import pytest
from PySide6.QtCore import QAbstractItemModel
from PySide6.QtTest import QAbstractItemModelTester

from gui.results_model import PkRole, ResultRow, ResultsModel, ScoreRole


@pytest.fixture(autouse=True)
def fake_models(monkeypatch):
    from tests.fakes import fake_spaces

    monkeypatch.setattr("core.spaces.default_spaces", fake_spaces)


def test_results_model_passes_qt_model_tester(qtbot):
    model = ResultsModel()
    QAbstractItemModelTester(model, QAbstractItemModelTester.FailureReportingMode.Fatal)
    rows = [ResultRow(i, f"S{i}", f"Title {i}", 1 - i / 1000, {"image": 0.5}, None) for i in range(1000)]
    model.set_rows(rows)
    assert model.rowCount() == 1000
    idx = model.index(3, 0)
    assert model.data(idx, PkRole) == 3 and model.data(idx, ScoreRole) == pytest.approx(0.997)
    assert "S3" in model.data(idx, 3)  # tooltip
    model.set_rows([])
    assert model.rowCount() == 0


def test_window_opens_catalog_and_searches(qtbot, engine):
    from gui.main_window import MainWindow

    path = engine.catalog.path
    window = MainWindow(path, demo=False)
    qtbot.addWidget(window)
    window.query.setText("green shoe")
    qtbot.waitUntil(lambda: window.model.rowCount() > 0, timeout=10000)
    assert window.model.row_at(0).sku == "P011"
    assert "mini" in window.statusBar().currentMessage()
    qtbot.waitUntil(lambda: not window._workers, timeout=5000)


def test_window_shows_errors_in_a_dialog(qtbot, tmp_path):
    from PySide6.QtWidgets import QMessageBox

    from gui.main_window import MainWindow

    window = MainWindow(tmp_path / "missing.vitrina", demo=False)
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.findChild(QMessageBox) is not None, timeout=10000)
    assert "No catalog at" in window.findChild(QMessageBox).text()
    assert not window.query.isEnabled()
