"""The import dialog: preview and guessed mapping, import with progress, skipped rows shown."""
import pytest
from PySide6.QtCore import QThreadPool, Qt

from gui.import_dialog import ImportDialog, looks_like_category


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
    assert dialog.mapping()["categories"] == ("articleType", "baseColour")  # they look like categories
    assert "2 of them checked as filter columns" in dialog.report.text()
    dialog.categories.item(dialog.columns.index("baseColour")).setCheckState(Qt.Unchecked)
    assert not dialog.skipped.isVisibleTo(dialog)  # no room taken by an empty table before an import
    with qtbot.waitSignal(dialog.imported, timeout=20000):
        dialog.start()
    assert "12 added" in dialog.report.text() and "bad_price" in dialog.report.text()
    assert dialog.skipped.rowCount() == 2 and dialog.skipped.isVisibleTo(dialog)
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


def test_what_cannot_change_during_an_import_is_locked_and_a_vanished_pairs_file_keeps_the_report(
        qtbot, mini_dir, tmp_path):
    pairs = tmp_path / "pairs.csv"
    pairs.write_text((mini_dir / "copurchase.csv").read_text())
    dialog = ImportDialog(str(tmp_path / "new.vitrina"), pool=QThreadPool())
    qtbot.addWidget(dialog)
    dialog.load_source(str(mini_dir / "products.csv"))
    dialog.set_pairs(str(pairs))
    pairs.unlink()  # gone between choosing it and importing
    with qtbot.waitSignal(dialog.imported, timeout=20000) as signal:
        dialog.start()
        assert not dialog.catalog.isEnabled() and not dialog.maps["id"].isEnabled()
        dialog.catalog.setText(str(tmp_path / "elsewhere.vitrina"))  # cannot happen in the window; changes nothing
    assert signal.args == [str(tmp_path / "new.vitrina")]
    assert "12 added" in dialog.report.text()  # the products are in, and said so
    assert "Co-purchase pairs not imported: " in dialog.report.text() and "pairs.csv" in dialog.report.text()
    assert not dialog.skipped.isVisibleTo(dialog)  # nothing skipped: no empty table
    qtbot.waitUntil(dialog.catalog.isEnabled, timeout=5000)


def test_what_is_missing_is_said_before_a_catalog_is_made_and_a_failed_import_leaves_none(qtbot, mini_dir, tmp_path):
    dialog = ImportDialog("", pool=QThreadPool())
    qtbot.addWidget(dialog)
    dialog.load_source(str(mini_dir / "products.csv"))
    dialog.catalog.setText("  ")
    dialog.start()
    assert "Choose the catalog file" in dialog.report.text() and dialog.worker is None
    dialog.catalog.setText(str(tmp_path / "new.vitrina"))
    dialog.images.setText(str(tmp_path / "no-such-folder"))
    dialog.start()
    assert "The image folder" in dialog.report.text() and dialog.worker is None
    dialog.images.setText("")
    (mini_dir / "products.csv").write_text("id,title\n")  # changed since its preview: the mapped columns are gone
    dialog.start()
    qtbot.waitUntil(lambda: not dialog.running, timeout=20000)
    assert "names columns that the file does not have" in dialog.report.text()
    assert not (tmp_path / "new.vitrina").exists()  # no empty catalog left behind


def test_cancelling_or_closing_shows_what_was_kept(qtbot, mini_dir, tmp_path, monkeypatch):
    import functools
    import threading

    import core.ingest

    gate, started = threading.Event(), threading.Event()
    real = core.ingest.import_catalog

    def slow(*args, **kwargs):  # an import held after its first step until it is cancelled
        inner = real(*args, **kwargs)
        yield next(inner)
        started.set()
        gate.wait(10)
        return (yield from inner)

    monkeypatch.setattr(core.ingest, "import_catalog", slow)
    monkeypatch.setattr(core.ingest, "ImportOptions", functools.partial(core.ingest.ImportOptions, batch_size=4))
    dialog = ImportDialog(str(tmp_path / "new.vitrina"), pool=QThreadPool())
    qtbot.addWidget(dialog)
    dialog.load_source(str(mini_dir / "products.csv"))
    with qtbot.waitSignal(dialog.imported, timeout=20000) as signal:  # the window shows what was kept
        dialog.start()
        assert started.wait(10)
        dialog.reject()  # closing the dialog cancels the import
        gate.set()
    assert signal.args == [str(tmp_path / "new.vitrina")] and dialog.worker.cancelled
    text = dialog.report.text()  # what it imported before the cancel (it said only "cancelled"), and what next
    assert text.startswith("Import cancelled: 4 added, 0 updated, 0 unchanged, 0 skipped")
    assert "What was imported stays in new.vitrina; importing the same file again goes on from there." in text
    (tmp_path / "new.vitrina").unlink()
    dialog.catalog.setText(str(tmp_path / "other.vitrina"))
    busy = threading.Event()  # the pool's one thread busy: the import waits in the queue
    dialog.pool.setMaxThreadCount(1)
    dialog.pool.start(lambda: busy.wait(10))
    dialog.start()
    dialog.cancel()  # before it began: nothing was made, nothing to show
    busy.set()
    qtbot.waitUntil(lambda: not dialog.running, timeout=10000)
    assert dialog.report.text() == "Import cancelled before anything was imported."
    assert not (tmp_path / "other.vitrina").exists()


def test_columns_that_look_like_categories_are_text_that_repeats():
    assert looks_like_category(["Men", "Women", "Men", "Men", "Women", "Unisex"])
    assert not looks_like_category(["Men", "Women", "Men"])  # too few rows to tell
    assert not looks_like_category(["Red shirt", "Blue shirt", "Green skirt", "Black shoes"])  # one per product
    assert not looks_like_category(["4.5", "4.5", "3", "3", "4.5", "3"])  # numbers
    assert looks_like_category(["S", "", "M", "S", " ", "M", "S", "M"])  # blanks are not values


def test_every_filter_column_is_seen_without_scrolling(qtbot, tmp_path):
    columns = ["sku", "name", "price", *(f"attribute{i}" for i in range(10)), "a_rather_long_column_name", "image"]
    rows = [[f"S{i}", f"Product {i}", f"{i}.5", *(f"v{i % 3}" for _ in range(10)), "x", f"{i}.jpg"]
            for i in range(20)]
    (tmp_path / "wide.csv").write_text("\n".join(",".join(r) for r in [columns, *rows]) + "\n")
    dialog = ImportDialog(str(tmp_path / "new.vitrina"), pool=QThreadPool())
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.load_source(str(tmp_path / "wide.csv"))
    assert dialog.mapping()["categories"] == (*(f"attribute{i}" for i in range(10)), "a_rather_long_column_name")
    listed = dialog.categories
    for width in (dialog.width(), 700):  # the default size, and narrower
        dialog.resize(width, dialog.height())
        qtbot.waitUntil(lambda: dialog.width() == width)
        qtbot.wait(50)
        last = listed.visualItemRect(listed.item(len(columns) - 1))
        assert last.bottom() <= listed.viewport().height(), width
        assert listed.sizeHintForColumn(0) <= listed.viewport().width(), width
        assert not listed.horizontalScrollBar().isVisible() and not listed.verticalScrollBar().isVisible()
        assert dialog.preview.width() > listed.width()


def test_without_an_id_like_column_the_first_stands_in_and_the_rest_is_still_guessed(qtbot, tmp_path):
    (tmp_path / "codes.csv").write_text("code,title,price,image\nC1,Red shirt,10,a.png\nC2,Blue shirt,20,b.png\n")
    dialog = ImportDialog(str(tmp_path / "new.vitrina"), pool=QThreadPool())
    qtbot.addWidget(dialog)
    dialog.load_source(str(tmp_path / "codes.csv"))
    chosen = {f: dialog.maps[f].currentText() for f in ("id", "title", "price", "image")}
    assert chosen == {"id": "code", "title": "title", "price": "price", "image": "image"}


def test_notes_of_an_import_are_listed_with_the_skipped_rows(qtbot, tmp_path):
    csv = tmp_path / "p.csv"
    csv.write_bytes("id,title\nA1,Café crème jacket\n".encode() + "A2,Blouse brodée\n".encode("cp1252"))
    dialog = ImportDialog(str(tmp_path / "new.vitrina"), pool=QThreadPool())
    qtbot.addWidget(dialog)
    dialog.load_source(str(csv))
    with qtbot.waitSignal(dialog.imported, timeout=20000):
        dialog.start()
    assert "2 added" in dialog.report.text()
    rows = [(dialog.skipped.item(i, 1).text(), dialog.skipped.item(i, 2).text())
            for i in range(dialog.skipped.rowCount())]
    assert rows == [("note", "line 3 is not UTF-8: read as Windows-1252")]
    qtbot.waitUntil(lambda: dialog.start_button.isEnabled(), timeout=5000)


def test_cancel_while_the_pairs_import_keeps_the_products_report_and_stores_no_pair(qtbot, mini_dir, tmp_path,
                                                                                    monkeypatch):
    import threading

    import core.ingest
    from core.catalog import Catalog

    products = mini_dir / "products.csv"
    products.write_text(products.read_text() + "P099,Odd one,,Acme,abc,3,Tshirts,Red,\n")  # a bad price: skipped
    started, gate = threading.Event(), threading.Event()
    real = core.ingest.import_copurchases

    def held(*args, cancelled, **kw):
        started.set()
        gate.wait(10)
        return real(*args, cancelled=cancelled, **kw)

    monkeypatch.setattr(core.ingest, "import_copurchases", held)
    dialog = ImportDialog(str(tmp_path / "new.vitrina"), pool=QThreadPool())
    qtbot.addWidget(dialog)
    dialog.load_source(str(products))
    dialog.set_pairs(str(mini_dir / "copurchase.csv"))
    with qtbot.waitSignal(dialog.imported, timeout=20000):
        dialog.start()
        assert started.wait(10)
        dialog.cancel()  # it cancelled nothing and showed no report (the skipped row unseen)
        gate.set()
    qtbot.waitUntil(lambda: not dialog.running, timeout=5000)
    text = dialog.report.text()
    assert "12 added" in text and "1 skipped" in text and "Co-purchase pairs not imported: cancelled" in text
    assert dialog.skipped.rowCount() == 1 and dialog.skipped.item(0, 1).text() == "bad_price"
    with Catalog.open(tmp_path / "new.vitrina") as catalog:
        assert len(catalog) == 12 and not catalog.has_copurchases()


def test_another_file_clears_the_last_report_and_a_file_is_no_image_folder(qtbot, mini_dir, tmp_path):
    products = mini_dir / "products.csv"
    products.write_text(products.read_text() + "P099,Odd one,,Acme,abc,3,Tshirts,Red,\n")
    dialog = ImportDialog(str(tmp_path / "new.vitrina"), pool=QThreadPool())
    qtbot.addWidget(dialog)
    dialog.load_source(str(products))
    with qtbot.waitSignal(dialog.imported, timeout=20000):
        dialog.start()
    qtbot.waitUntil(lambda: not dialog.running, timeout=5000)
    assert dialog.skipped.rowCount() == 1 and dialog.skipped.isVisibleTo(dialog)
    (tmp_path / "other.csv").write_text("id,title\nX1,Plain tee\n")
    dialog.load_source(str(tmp_path / "other.csv"))  # the skipped rows of the file before stayed, under this one
    assert dialog.skipped.rowCount() == 0 and not dialog.skipped.isVisibleTo(dialog)
    assert dialog.progress.value() == -1
    dialog.images.setText(str(products))
    dialog.start()
    assert dialog.report.text().endswith("is a file, not a folder.") and not dialog.running  # "does not exist"
    dialog.resize(1, 1)
    assert dialog.preview.minimumWidth() >= 200  # it was squeezed to its row numbers


def test_a_typed_catalog_path_is_made_in_the_home_folder_or_beside_the_products_file(qtbot, mini_dir, tmp_path,
                                                                                     monkeypatch):
    from core.catalog import Catalog

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    for typed, made in (("~/shop.vitrina", home / "shop.vitrina"), ("bare.vitrina", mini_dir / "bare.vitrina")):
        dialog = ImportDialog(typed, pool=QThreadPool())
        qtbot.addWidget(dialog)
        dialog.load_source(str(mini_dir / "products.csv"))
        with qtbot.waitSignal(dialog.imported, timeout=20000):
            dialog.start()
        qtbot.waitUntil(lambda: dialog.start_button.isEnabled(), timeout=5000)
        assert dialog.catalog.text() == str(made) and made.is_file()  # not "./~/shop.vitrina", not the cwd's
        with Catalog.open(made) as cat:
            assert len(cat) == 12
    assert not (tmp_path / "~").exists() and not (tmp_path / "bare.vitrina").exists()


def test_a_typed_relative_image_folder_is_beside_the_products_file(qtbot, mini_dir, tmp_path, monkeypatch):
    import shutil
    from pathlib import Path

    from PIL import Image

    from core.catalog import Catalog

    elsewhere = tmp_path / "started-here"  # where the application was started, with an images folder of its own
    shutil.copytree(mini_dir / "images", elsewhere / "images")
    for photo in (elsewhere / "images").iterdir():
        Image.new("RGB", (64, 64), (0, 0, 0)).save(photo)  # all alike: every product got this one photo
    monkeypatch.chdir(elsewhere)
    dialog = ImportDialog(str(tmp_path / "shop.vitrina"), pool=QThreadPool())
    qtbot.addWidget(dialog)
    bare = mini_dir / "bare.csv"  # image paths without their folder: the image folder is typed
    bare.write_text((mini_dir / "products.csv").read_text().replace("images/", ""))
    dialog.load_source(str(bare))
    dialog.images.setText("images")
    with qtbot.waitSignal(dialog.imported, timeout=20000):
        dialog.start()
    qtbot.waitUntil(lambda: dialog.start_button.isEnabled(), timeout=5000)
    assert dialog.images.text() == str(mini_dir / "images"), dialog.report.text()
    with Catalog.open(Path(dialog.target)) as cat:
        paths = [cat.product(pk).image_path for pk in cat.all_pks()]
    assert len(paths) == 12 and all(p.startswith(str(mini_dir / "images")) for p in paths), dialog.report.text()


def test_a_new_catalog_cancelled_or_failed_before_its_first_product_is_not_left(qtbot, mini_dir, tmp_path,
                                                                                 monkeypatch):
    """Cancel while the file is still read: no empty catalog is left nor opened by the window; a first batch that
    fails (a model that cannot load) leaves none either (it was left, saying an import was interrupted)."""
    import threading

    import core.ingest
    from tests import fakes

    started, gate = threading.Event(), threading.Event()
    real = core.ingest.count_rows

    def slow_count(path):  # a big file: Cancel is pressed while it is counted
        started.set()
        gate.wait(10)
        return real(path)

    monkeypatch.setattr(core.ingest, "count_rows", slow_count)
    dialog = ImportDialog(str(tmp_path / "new.vitrina"), pool=QThreadPool())
    qtbot.addWidget(dialog)
    dialog.load_source(str(mini_dir / "products.csv"))
    opened = []
    dialog.imported.connect(opened.append)
    dialog.start()
    assert started.wait(10)
    dialog.cancel()
    gate.set()
    qtbot.waitUntil(lambda: not dialog.running, timeout=20000)
    assert dialog.report.text() == "Import cancelled before anything was imported."
    assert opened == [] and sorted(p.name for p in tmp_path.iterdir()) == ["mini"]
    monkeypatch.setattr(core.ingest, "count_rows", real)

    def broken():
        from core.errors import EncoderError

        spaces = fakes.fake_spaces()
        for s in spaces:
            def fail(texts):
                raise EncoderError("The text model's weights are missing.")
            s.encoder.encode_texts = fail
        return spaces

    monkeypatch.setattr("core.spaces.default_spaces", broken)
    dialog.start()
    qtbot.waitUntil(lambda: not dialog.running, timeout=20000)
    assert "weights are missing" in dialog.report.text()
    assert opened == [] and sorted(p.name for p in tmp_path.iterdir()) == ["mini"]


def test_the_windows_catalog_gone_or_a_missing_folder_is_said_not_made_again(qtbot, mini_dir, tmp_path):
    drive = tmp_path / "usb"
    drive.mkdir()
    gone = drive / "shop.vitrina"
    dialog = ImportDialog(str(gone), pool=QThreadPool(), is_open=True)  # the window's, its drive unplugged
    qtbot.addWidget(dialog)
    drive.rmdir()
    dialog.load_source(str(mini_dir / "products.csv"))
    dialog.start()
    assert "no longer exists" in dialog.report.text() and dialog.worker is None
    dialog.catalog.setText(str(tmp_path / "usb" / "other.vitrina"))
    dialog.start()
    assert "The folder" in dialog.report.text() and "does not exist" in dialog.report.text()
    assert dialog.worker is None and not drive.exists()
