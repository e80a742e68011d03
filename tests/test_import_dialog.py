"""The import dialog: preview and guessed mapping, import with progress, skipped rows shown."""
import pytest
from PySide6.QtCore import QThreadPool

from gui.import_dialog import ImportDialog


@pytest.fixture(autouse=True)
def fake_models(monkeypatch):
    from tests.fakes import fake_spaces

    monkeypatch.setattr("core.spaces.default_spaces", fake_spaces)


def test_preview_mapping_import_and_report(qtbot, mini_dir, tmp_path):
    csv = mini_dir / "products.csv"
    csv.write_text(csv.read_text() + "P013,Broken,x,Acme,abc,1,Shoes,Red,images/P001.png\n"
                   "P014,Ghost,x,Acme,1,1,Shoes,Red,images/none.png\n")
    dialog = ImportDialog(str(tmp_path / "new.vitrina"), pool=QThreadPool())
    qtbot.addWidget(dialog)
    dialog.load_source(str(csv))
    assert dialog.preview.rowCount() == 14 and dialog.maps["image"].currentText() == "image"
    assert dialog.maps["id"].currentText() == "id" and dialog.start_button.isEnabled()
    dialog.categories.item(dialog.columns.index("articleType")).setCheckState(
        __import__("PySide6.QtCore", fromlist=["Qt"]).Qt.Checked)
    with qtbot.waitSignal(dialog.imported, timeout=20000):
        dialog.start()
    assert "12 added" in dialog.report.text() and "bad_price" in dialog.report.text()
    assert dialog.skipped.rowCount() == 2
    reasons = {dialog.skipped.item(i, 1).text() for i in range(2)}
    assert reasons == {"bad_price", "missing"}
    qtbot.waitUntil(lambda: dialog.start_button.isEnabled(), timeout=5000)


def test_unreadable_file_is_reported(qtbot, tmp_path):
    (tmp_path / "x.csv").write_bytes(b"\x00\x01binary")
    dialog = ImportDialog(pool=QThreadPool())
    qtbot.addWidget(dialog)
    dialog.load_source(str(tmp_path / "x.csv"))
    assert "binary" in dialog.report.text() and not dialog.start_button.isEnabled()


def test_co_purchase_pairs_are_imported_after_the_products(qtbot, mini_dir, tmp_path):
    from core.catalog import Catalog

    pairs = mini_dir / "copurchase.csv"
    known = len(pairs.read_text().splitlines()) - 1
    pairs.write_text(pairs.read_text() + "P001,NOPE,1\n")
    (tmp_path / "one.csv").write_text("sku\nP001\n")
    dialog = ImportDialog(str(tmp_path / "new.vitrina"), pool=QThreadPool())
    qtbot.addWidget(dialog)
    dialog.load_source(str(mini_dir / "products.csv"))
    dialog.set_pairs(str(tmp_path / "one.csv"))
    assert dialog.pairs.text() == "" and "two id columns" in dialog.report.text()
    dialog.set_pairs(str(pairs))
    with qtbot.waitSignal(dialog.imported, timeout=20000):
        dialog.start()
    assert f"Co-purchase pairs: {known} imported, 1 skipped" in dialog.report.text()
    details = [dialog.skipped.item(i, 2).text() for i in range(dialog.skipped.rowCount())]
    assert details == ["copurchase.csv: line 5: id not in the catalog"]
    qtbot.waitUntil(lambda: dialog.start_button.isEnabled(), timeout=5000)
    with Catalog.open(tmp_path / "new.vitrina") as cat:
        assert len(cat.copurchase_pairs()) == known
