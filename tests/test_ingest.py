"""Import: the bad-input corpus end to end, re-import of changes only, resume after a kill."""
import json
import logging
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PIL import Image

from core.catalog import Catalog
from core.errors import CatalogError, ImportFailed
from core.ingest import ColumnMapping, ImportOptions, import_catalog, import_copurchases
from core.progress import drain
from core.sources import count_rows, inspect_source, preview_rows, read_rows

MAP = ColumnMapping(id="id", title="title", description="description", brand="brand", price="price",
                    rating="rating", image="image", categories=("articleType",))
HEADER = "id,title,description,brand,price,rating,articleType,image\n"


def run(catalog, source, spaces, mapping=MAP, **opts):
    progress = []
    report = drain(import_catalog(catalog, source, mapping, spaces, ImportOptions(**opts)), progress.append)
    return report, progress


@pytest.fixture
def cat(tmp_path):
    c = Catalog.create(tmp_path / "c.vitrina")
    yield c
    c.close()


def test_imports_fixture_with_vectors_thumbnails_and_fields(cat, mini_dir, spaces):
    report, progress = run(cat, mini_dir / "products.csv", spaces)
    assert report.added == 12 and not report.skipped
    assert len(cat) == 12 and cat.embedding_count("image") == 12 and cat.embedding_count("text") == 12
    p = cat.product(cat.pk_for_sku("P005"))
    assert (p.title, p.brand, p.price, p.attributes["articleType"]) == ("Red dress", "Acme", 50.0, "Dresses")
    assert p.attributes["baseColour"] == "Red"  # unmapped columns are kept as attributes
    assert p.attributes["image_quality"] == "tiny"  # 48 px fixture images are flagged
    assert Image.open(__import__("io").BytesIO(cat.thumbnail(p.pk))).size[0] <= 160
    assert cat.category_fields() == ["articleType"]
    assert progress[-1].message.startswith("Import finished: 12 added")


def write_bad_corpus(folder: Path) -> Path:
    img = folder / "images"
    (img / "ok.png").parent.mkdir(exist_ok=True)
    Image.new("RGB", (80, 80), (200, 10, 10)).save(img / "ok.png")
    Image.new("RGB", (80, 80), (10, 10, 200)).save(img / "платье.png")
    Image.new("CMYK", (80, 80), (0, 200, 200, 0)).save(img / "cmyk.jpg")
    Image.new("LA", (80, 80), (100, 0)).save(img / "alpha.png")
    (img / "empty.jpg").write_bytes(b"")
    (img / "text.jpg").write_text("not an image")
    data = (img / "ok.png").read_bytes()
    (img / "cut.png").write_bytes(data[: len(data) // 2])
    Image.new("1", (20000, 20000)).save(img / "bomb.png")
    (folder / "secret.png").write_bytes(data)
    rows = [
        "1,Good,,B,10,4,Tshirts,images/ok.png",
        "2,Unicode,,B,10,4,Tshirts,images/платье.png",
        "3,Cmyk,,B,10,4,Tshirts,images/cmyk.jpg",
        "4,Alpha,,B,10,4,Tshirts,images/alpha.png",
        "5,Missing,,B,10,4,Tshirts,images/nope.png",
        "6,Empty,,B,10,4,Tshirts,images/empty.jpg",
        "7,Text,,B,10,4,Tshirts,images/text.jpg",
        "8,Truncated,,B,10,4,Tshirts,images/cut.png",
        "9,Bomb,,B,10,4,Tshirts,images/bomb.png",
        "10,Escape,,B,10,4,Tshirts,../secret.png",
        "1,Duplicate,,B,10,4,Tshirts,images/ok.png",
        ",No id,,B,10,4,Tshirts,images/ok.png",
        "11,Bad price,,B,cheap,4,Tshirts,images/ok.png",
        "12,Too,many,fields,here,1,2,3,4",
        '13,"Unclosed quote,,B,10,4,Tshirts,images/ok.png',
    ]
    src = folder / "bad.csv"
    src.write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    return src


def test_bad_rows_and_images_are_skipped_with_reasons(cat, tmp_path, spaces):
    src = write_bad_corpus(tmp_path)
    report, _ = run(cat, src, spaces)
    reasons = {s.sku: s.reason for s in report.skipped if s.sku}
    assert reasons == {"5": "missing", "6": "empty", "7": "not_an_image", "8": "truncated", "9": "too_large",
                       "10": "outside_folder", "1": "duplicate_id", "11": "bad_price"}
    assert {s.reason for s in report.skipped if not s.sku} == {"missing_id", "malformed_line"}
    assert sorted(p.sku for p in cat.products(cat.all_pks())) == ["1", "2", "3", "4"]
    assert any("CMYK" in n for _, sku, n in report.notes if sku == "3")
    assert cat.embedding_count("image") == 4


def test_reimport_embeds_only_what_changed(cat, mini_dir, spaces):
    run(cat, mini_dir / "products.csv", spaces)
    img_calls, txt_calls = spaces[0].encoder.calls, spaces[1].encoder.calls
    csv = (mini_dir / "products.csv").read_text().replace("Red shirt,", "Crimson shirt,")
    (mini_dir / "products.csv").write_text(csv)
    Image.new("RGB", (48, 48), (0, 0, 0)).save(mini_dir / "images" / "P012.png")
    report, _ = run(cat, mini_dir / "products.csv", spaces)
    assert (report.added, report.updated, report.unchanged) == (0, 2, 10)
    assert spaces[1].encoder.calls - txt_calls == 1  # only P001's text changed
    assert spaces[0].encoder.calls - img_calls == 1  # only P012's image changed
    assert report.embedded == {"text": [cat.pk_for_sku("P001")], "image": [cat.pk_for_sku("P012")]}


def test_reimport_with_a_new_encoder_reembeds_and_prune_removes(cat, mini_dir, spaces):
    from tests.fakes import ColourGridEncoder
    from core.spaces import Space

    run(cat, mini_dir / "products.csv", spaces)
    lines = (mini_dir / "products.csv").read_text().splitlines()
    (mini_dir / "products.csv").write_text("\n".join(lines[:-2]) + "\n")  # drop P011, P012
    new_spaces = [Space("image", ColourGridEncoder("fake-v2"), "image"), spaces[1]]
    report, _ = run(cat, mini_dir / "products.csv", new_spaces, prune=True)
    assert report.removed == 2 and len(cat) == 10
    assert len(report.embedded["image"]) == 10 and "text" not in report.embedded
    assert set(cat.spaces().values()) == {"fake-v2", spaces[1].encoder_id}


def test_bad_price_keeps_previous_version(cat, mini_dir, spaces):
    run(cat, mini_dir / "products.csv", spaces)
    csv = (mini_dir / "products.csv").read_text().replace("Acme,10,", "Acme,ten,")
    (mini_dir / "products.csv").write_text(csv)
    report, _ = run(cat, mini_dir / "products.csv", spaces)
    assert [s.reason for s in report.skipped] == ["bad_price"]
    assert cat.product(cat.pk_for_sku("P001")).price == 10.0


def test_jsonl_source_and_copurchase_pairs(cat, mini_dir, spaces, tmp_path):
    src = tmp_path / "p.jsonl"
    src.write_text('{"sku": "a", "name": "Red shirt", "tags": ["x", "y"], "image": null}\n'
                   'not json\n[1, 2]\n{"sku": "b", "name": "Blue shirt"}\n')
    mapping = ColumnMapping.guess(inspect_source(src).columns)
    assert (mapping.id, mapping.title) == ("sku", "name")
    report, _ = run(cat, src, spaces, mapping=mapping)
    assert report.added == 2 and [s.reason for s in report.skipped] == ["malformed_line", "malformed_line"]
    assert cat.product(cat.pk_for_sku("a")).attributes["tags"] == '["x", "y"]'
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("a,b,weight\na,b,0.5\na,zzz,1\nb,b,2\n")
    rep = import_copurchases(cat, pairs)
    assert rep.pairs == 1 and [s.reason for s in rep.skipped] == ["unknown_id", "same_product"]
    assert rep.skipped[1].detail == "line 4: a product paired with itself"
    assert cat.copurchased(cat.pk_for_sku("b")) == [(cat.pk_for_sku("a"), 0.5)]


def test_whole_file_problems_raise_clear_errors(cat, tmp_path, spaces, caplog):
    with pytest.raises(ImportFailed, match="does not exist"):
        run(cat, tmp_path / "none.csv", spaces)
    (tmp_path / "x.xlsx").write_bytes(b"PK\x03\x04")
    with pytest.raises(ImportFailed, match="unsupported file type"):
        run(cat, tmp_path / "x.xlsx", spaces)
    (tmp_path / "p.csv").write_text("sku,name\n1,a\n")
    with pytest.raises(ImportFailed, match="does not have: id"):
        run(cat, tmp_path / "p.csv", spaces)
    (tmp_path / "win.csv").write_bytes("id;title\n1;Caf\xe9 cr\xe8me\n".encode("cp1252"))
    with caplog.at_level(logging.WARNING, logger="core.sources"):
        report, _ = run(cat, tmp_path / "win.csv", spaces, mapping=ColumnMapping(id="id", title="title"))
    assert report.added == 1 and cat.product(cat.pk_for_sku("1")).title == "Café crème"
    assert [r.getMessage() for r in caplog.records if "UTF-8" in r.getMessage()] == [
        "win.csv is not UTF-8; reading it as Windows-1252"]  # once, though the import reads the file three times
    (tmp_path / "nl.csv").write_text('id,title\n"N1\nN2",run together\nN3,fine\n')  # it broke the search table
    report, _ = run(cat, tmp_path / "nl.csv", spaces, mapping=ColumnMapping(id="id", title="title"))
    assert report.added == 1 and [(s.reason, s.detail) for s in report.skipped] == [
        ("bad_id", "line 2: the id 'N1\\nN2' holds a line break, a tab or another control character")]
    (tmp_path / "iq.csv").write_text("id,title,image_quality\nQ1,red,excellent\n")  # the import's own attribute:
    for mapping in (ColumnMapping(id="id", title="title"),  # its values were replaced by "ok" or "tiny", unsaid
                    ColumnMapping(id="id", title="title", categories=("image_quality",))):
        with pytest.raises(ImportFailed, match="The column 'image_quality' has the name of what Vitrina records of "
                                               "each product's photo .*rename it in the file \\(e.g. to "
                                               "'photo_quality'\\)"):
            run(cat, tmp_path / "iq.csv", spaces, mapping=mapping)
    assert cat.pk_for_sku("Q1") is None
    report, _ = run(cat, tmp_path / "iq.csv", spaces, mapping=ColumnMapping(id="id", title="image_quality"))
    assert report.added == 1 and cat.product(cat.pk_for_sku("Q1")).title == "excellent"  # a role: no attribute


def test_catalog_refuses_foreign_and_newer_files(tmp_path):
    (tmp_path / "junk.vitrina").write_bytes(b"hello, not sqlite at all" * 100)
    with pytest.raises(CatalogError, match="not a Vitrina catalog"):
        Catalog.open(tmp_path / "junk.vitrina")
    c = Catalog.create(tmp_path / "new.vitrina")
    c.execute("PRAGMA user_version=99")
    c.close()
    with pytest.raises(CatalogError, match="newer Vitrina"):
        Catalog.open(tmp_path / "new.vitrina")
    with pytest.raises(CatalogError, match="No catalog"):
        Catalog.open(tmp_path / "missing.vitrina")


KILL_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    sys.path[:0] = [{root!r}]
    from core.catalog import Catalog
    from core.ingest import ColumnMapping, ImportOptions, import_catalog
    from tests.fakes import fake_spaces
    cat = Catalog.open(sys.argv[1], create=True)
    gen = import_catalog(cat, sys.argv[2], ColumnMapping(id="id", title="title", image="image"),
                         fake_spaces(), ImportOptions(batch_size=10))
    for i, p in enumerate(gen):
        if i == 3:  # four batches of 10 committed: die without any cleanup
            os.kill(os.getpid(), signal.SIGKILL)
""")


def test_import_killed_half_way_leaves_usable_catalog_and_resumes(tmp_path, spaces):
    images = tmp_path / "images"
    images.mkdir()
    rows = []
    for i in range(100):
        Image.new("RGB", (64, 64), (i * 2, 255 - i * 2, 90)).save(images / f"{i}.png")
        rows.append(f"{i},Product {i},images/{i}.png")
    src = tmp_path / "p.csv"
    src.write_text("id,title,image\n" + "\n".join(rows) + "\n")
    script = tmp_path / "kill.py"
    script.write_text(KILL_SCRIPT.format(root=str(Path(__file__).resolve().parents[1])))
    proc = subprocess.run([sys.executable, str(script), str(tmp_path / "k.vitrina"), str(src)])
    assert proc.returncode == -signal.SIGKILL
    cat = Catalog.open(tmp_path / "k.vitrina")
    assert len(cat) == 40 and cat.embedding_count("image") == 40  # whole batches only
    assert cat.interrupted_imports() == [str(src)]
    report, _ = run(cat, src, spaces, mapping=ColumnMapping(id="id", title="title", image="image"))
    assert (report.unchanged, report.added) == (40, 60)
    assert spaces[0].encoder.calls == 60  # resumed: the first 40 were not embedded again
    assert len(cat) == 100 and cat.embedding_count("text") == 100
    assert cat.interrupted_imports() == []
    cat.close()


def test_files_and_folders_that_cannot_be_read_or_written_are_named(tmp_path, monkeypatch):
    import os

    (tmp_path / "folder.vitrina").mkdir()
    with pytest.raises(CatalogError, match="is a folder, not a catalog file"):
        Catalog.open(tmp_path / "folder.vitrina")
    with pytest.raises(CatalogError, match="is a folder: give the catalog a file name"):
        Catalog.create(tmp_path / "folder.vitrina")
    Catalog.create(tmp_path / "ro.vitrina").close()
    real_access = os.access  # tests may run as root, who may write anything: the permission is what is faked
    monkeypatch.setattr(os, "access", lambda p, mode: not (mode & os.W_OK) and real_access(p, mode))
    with pytest.raises(CatalogError, match="ro.vitrina cannot be opened for writing: the file or its folder is "
                                           "read-only .* Copy it somewhere writable"):
        Catalog.open(tmp_path / "ro.vitrina")
    with pytest.raises(CatalogError, match="cannot be created in .*: the folder is read-only"):
        Catalog.create(tmp_path / "new.vitrina")
    monkeypatch.undo()
    secret = tmp_path / "secret.csv"
    secret.write_text("id,title\n1,a\n")
    def denied(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", denied)
    monkeypatch.setattr(Path, "open", denied)
    for read in (inspect_source, read_rows):
        with pytest.raises(ImportFailed, match=r"secret.csv cannot be read \(Permission denied\)"):
            read(secret)


def test_a_column_with_a_role_can_be_a_filter_too(cat, mini_dir, spaces):
    mapping = ColumnMapping.guess(["id", "title", "description", "brand", "price", "rating", "image"]) \
        .with_overrides(categories=("brand",))
    report, _ = run(cat, mini_dir / "products.csv", spaces, mapping=mapping)
    assert report.added == 12 and cat.category_fields() == ["brand"]
    values = dict(cat.field_values("brand"))
    assert values and sum(values.values()) == 12  # the filter offers the brands (it had no value at all)
    assert cat.product(cat.pk_for_sku("P001")).brand in values


def test_inspecting_and_previewing_read_only_the_head_of_a_big_file(tmp_path, monkeypatch):
    import core.sources

    monkeypatch.setattr(core.sources, "HEAD_BYTES", 96)
    rows = "".join(f"{i},Caf\xe9 {i}\n" for i in range(100))
    for name, encoding in (("utf8.csv", "utf-8"), ("utf16.csv", "utf-16"), ("latin.csv", "cp1252")):
        path = tmp_path / name
        path.write_bytes(("id,title\n" + rows).encode(encoding))
        info, head = preview_rows(path, 30)
        assert info.columns == ("id", "title") and 3 <= len(head) < 10, name  # whole lines of the first 96 bytes
        assert [r.data for r in head] == [{"id": str(i), "title": f"Café {i}"} for i in range(len(head))], name
        assert len(list(read_rows(path)[1])) == 100  # the import reads it all


def test_prune_keeps_every_product_the_file_lists_and_removes_nothing_when_it_cannot_tell(cat, mini_dir, spaces,
                                                                                          tmp_path):
    run(cat, mini_dir / "products.csv", spaces)
    lines = (mini_dir / "products.csv").read_text().splitlines()
    header, rows = lines[0], lines[1:]
    bad_price = rows[0].split(",")
    bad_price[4] = "n/a"  # P001's row is skipped, P001 is still in the file
    (tmp_path / "some.csv").write_text("\n".join([header, ",".join(bad_price), *rows[1:6]]) + "\n")
    report, _ = run(cat, tmp_path / "some.csv", spaces, prune=True, image_root=mini_dir)
    assert [s.reason for s in report.skipped] == ["bad_price"] and report.removed == 6
    assert cat.pk_for_sku("P001") is not None and cat.pk_for_sku("P007") is None and len(cat) == 6
    (tmp_path / "empty.csv").write_text(header + "\n")
    report, _ = run(cat, tmp_path / "empty.csv", spaces, prune=True, image_root=mini_dir)
    assert report.removed == 0 and len(cat) == 6 and report.summary().endswith(
        "nothing removed: the file lists no product")
    (tmp_path / "broken.csv").write_text("\n".join([header, rows[1], '"P003,unterminated']) + "\n")
    report, _ = run(cat, tmp_path / "broken.csv", spaces, prune=True, image_root=mini_dir)
    assert report.removed == 0 and len(cat) == 6 and "could not be read, and may list products" in report.summary()


def test_two_processes_on_one_catalog_wait_for_each_other_or_say_it_is_busy(tmp_path, monkeypatch):
    import sqlite3

    import core.catalog

    path = tmp_path / "race.vitrina"
    late = Catalog(path, sqlite3.connect(str(path), isolation_level=None))  # saw no schema yet (version 0)
    Catalog._connect(path).close()  # meanwhile another import made the schema
    late._migrate(0)  # it raised "table meta already exists"
    assert late.execute("PRAGMA user_version").fetchone()[0] == core.catalog.SCHEMA_VERSION
    assert late.meta("name") is None and len(late) == 0
    late.close()
    monkeypatch.setattr(core.catalog, "BUSY_TIMEOUT_S", 0.2)
    first, second = Catalog.open(path), Catalog.open(path)
    with first.transaction():  # an import writing a batch
        with pytest.raises(CatalogError, match="race.vitrina is busy: another Vitrina .* Try again when it is done"):
            with second.transaction():
                pass
    with second.transaction():  # once it is done, the other one writes
        second.set_meta("x", "1")
    assert first.meta("x") == "1"
    first.close()
    second.close()


def test_a_catalog_gets_an_id_of_its_own_and_an_older_one_is_given_one(tmp_path):
    import sqlite3

    a, b = Catalog.create(tmp_path / "a.vitrina"), Catalog.create(tmp_path / "b.vitrina")
    assert a.uid and b.uid and a.uid != b.uid
    a.close()
    b.close()
    old = sqlite3.connect(tmp_path / "a.vitrina")  # as schema 1 left it: no id
    with old:
        old.execute("DELETE FROM meta WHERE key='catalog_id'")
        old.execute("PRAGMA user_version=1")
    old.close()
    with Catalog.open(tmp_path / "a.vitrina") as a:
        uid = a.uid
    with Catalog.open(tmp_path / "a.vitrina") as a:
        assert uid and a.uid == uid  # given once, then kept


def test_the_stored_image_path_follows_a_renamed_or_moved_image(cat, mini_dir, spaces, tmp_path):
    run(cat, mini_dir / "products.csv", spaces)
    calls = spaces[0].encoder.calls
    (mini_dir / "images" / "P001.png").rename(mini_dir / "images" / "red-shirt.png")
    csv = mini_dir / "products.csv"
    csv.write_text(csv.read_text().replace("images/P001.png", "images/red-shirt.png"))
    report, _ = run(cat, csv, spaces)
    pk = cat.pk_for_sku("P001")
    assert cat.image_path(pk) == str((mini_dir / "images" / "red-shirt.png").resolve())
    assert (report.updated, report.unchanged, report.embedded) == (1, 11, {})  # the same bytes: no new vector
    (tmp_path / "moved").mkdir()
    (mini_dir / "images").rename(tmp_path / "moved" / "images")  # the whole image folder moved, the rows did not
    report, _ = run(cat, csv, spaces, image_root=tmp_path / "moved")
    assert (report.updated, report.embedded) == (12, {}) and spaces[0].encoder.calls == calls
    assert cat.image_path(pk) == str((tmp_path / "moved" / "images" / "red-shirt.png").resolve())
    assert all(Path(cat.image_path(int(p))).is_file() for p in cat.all_pks())
    assert cat.product(pk).image_flags == ("tiny",)  # the rest of the image's record stays


def test_jsonl_lines_end_at_newlines_only(cat, tmp_path, spaces):
    src = tmp_path / "p.jsonl"
    src.write_bytes('{"id": "a", "title": "Line\u2028separator"}\r\n{"id": "b", "title": "Para\u2029graph"}\r\n'
                    '{"id": "c", "title": "Next\u0085line"}\r\nbroken\r\n'.encode())
    report, _ = run(cat, src, spaces, mapping=ColumnMapping(id="id", title="title"))
    assert report.added == 3 and cat.product(cat.pk_for_sku("b")).title == "Para\u2029graph"
    assert [(s.line, s.reason) for s in report.skipped] == [(4, "malformed_line")]


@pytest.mark.parametrize("text, prices", [
    ('id,title,price\n1,A,12.99\n2,B,"1,299"\n', {"1": 12.99, "2": 1299.0}),  # a decimal point: "," groups thousands
    ("id;title;price\n1;A;12,99\n2;B;1,299\n", {"1": 12.99, "2": 1.299}),  # decimal commas
    ("id;title;price\n1;A;10\n2;B;1,299\n3;C;12,5\n", {"1": 10.0, "2": 1.299, "3": 12.5}),  # a later one tells
])
def test_a_comma_before_three_digits_is_read_as_the_file_writes_its_other_prices(cat, tmp_path, spaces, text, prices):
    (tmp_path / "p.csv").write_text(text)
    report, _ = run(cat, tmp_path / "p.csv", spaces, mapping=ColumnMapping(id="id", title="title", price="price"))
    assert not report.skipped and {p.sku: p.price for p in cat.products(cat.all_pks())} == prices


def test_a_price_that_may_have_a_thousands_separator_or_a_decimal_comma_is_refused(cat, tmp_path, spaces):
    src = tmp_path / "p.csv"
    src.write_text('id,title,price\n1,A,10\n2,B,"1,299"\n')
    report, _ = run(cat, src, spaces, mapping=ColumnMapping(id="id", title="title", price="price"))
    assert report.added == 1 and [(s.sku, s.reason, s.detail) for s in report.skipped] == [
        ("2", "ambiguous_price", "line 3: price '1,299' may be 1299 (a thousands separator) or 1.299 "
                                 "(a decimal comma): write it as one of those")]


def test_a_csv_with_two_columns_of_one_name_is_refused(tmp_path):
    (tmp_path / "p.csv").write_text("id,title,price,title\n1,A,10,B\n")
    with pytest.raises(ImportFailed, match=r"p.csv has two columns named 'title' \(columns 2 and 4\); rename one"):
        read_rows(tmp_path / "p.csv")
    (tmp_path / "blank.csv").write_text("id,title,,\n1,A,,\n")  # unnamed columns (trailing commas) are no names
    assert [r.data["title"] for r in read_rows(tmp_path / "blank.csv")[1]] == ["A"]


def test_a_folder_or_a_file_without_a_type_is_named_as_such(tmp_path):
    with pytest.raises(ImportFailed, match=f"{tmp_path} is a folder: give the file itself, a .csv, .tsv "
                                           "or .jsonl file"):
        inspect_source(tmp_path)
    (tmp_path / "products").write_text("id\n1\n")
    with pytest.raises(ImportFailed, match=r"products: no file type \(extension\). Use a .csv"):
        inspect_source(tmp_path / "products")


@pytest.mark.parametrize("text, prices", [
    ("id;title;price\n1;A;12,50\n2;B;1.299\n3;C;1.299,00\n4;D;9,99\n", {"1": 12.5, "2": 1299.0, "3": 1299.0,
                                                                        "4": 9.99}),  # "." groups thousands
    ('id,title,price\n1,A,"1,299.95"\n2,B,1.299.000\n3,C,"1,299,000"\n', {"1": 1299.95, "2": 1299000.0,
                                                                         "3": 1299000.0}),  # the last one is decimal
    ("id,title,price\n1,A,12.99\n2,B,1.299\n", {"1": 12.99, "2": 1.299}),  # a decimal point file: 1.299 as written
    ('id,title,price\n1,A,",5"\n2,B,"0,299"\n3,C,4.5\n', {"1": 0.5, "2": 0.299, "3": 4.5}),  # "0," groups nothing
    ("id,title,price\n1,a,0.750\n2,b,1.500\n3,c,12.250\n", {"1": 0.75, "2": 1.5, "3": 12.25}),  # dinars: "0." tells
    ("id;title;price\n1;a;0,750\n2;b;1.500,250\n3;c;1.500\n", {"1": 0.75, "2": 1500.25, "3": 1500.0}),
])
def test_a_point_before_three_digits_and_numbers_with_both_separators(cat, tmp_path, spaces, text, prices):
    (tmp_path / "p.csv").write_text(text)
    report, _ = run(cat, tmp_path / "p.csv", spaces, mapping=ColumnMapping(id="id", title="title", price="price"))
    assert not report.skipped and {p.sku: p.price for p in cat.products(cat.all_pks())} == prices


def test_prices_with_separators_in_no_known_pattern_are_not_numbers(cat, tmp_path, spaces):
    (tmp_path / "p.csv").write_text('id,title,price\n1,A,"1.2345,6"\n2,B,"1,29,00"\n3,C,"1,299.95.1"\n4,D,5\n')
    report, _ = run(cat, tmp_path / "p.csv", spaces, mapping=ColumnMapping(id="id", title="title", price="price"))
    assert report.added == 1 and [(s.sku, s.reason) for s in report.skipped] == [
        ("1", "bad_price"), ("2", "bad_price"), ("3", "bad_price")]


def test_json_lines_keys_first_seen_late_take_their_roles(cat, tmp_path, spaces):
    Image.new("RGB", (80, 80), (200, 10, 10)).save(tmp_path / "x.png")
    lines = [json.dumps({"id": f"S{i}", "title": f"thing {i}"}) for i in range(250)]
    lines += [json.dumps({"id": "S250", "title": "late", "price": 9.5, "image": "x.png"})]
    (tmp_path / "p.jsonl").write_text("\n".join(lines) + "\n")
    info = inspect_source(tmp_path / "p.jsonl", whole=True)
    mapping = ColumnMapping.guess(info.columns, info.key_counts)
    assert (mapping.price, mapping.image) == ("price", "image")
    report, _ = run(cat, tmp_path / "p.jsonl", spaces, mapping=ColumnMapping(id="id", title="title", price="price",
                                                                            image="image"))
    assert report.added == 251 and not report.skipped
    late = cat.product(cat.pk_for_sku("S250"))
    assert late.price == 9.5 and "price" not in late.attributes and cat.embedding_count("image") == 1


def test_a_rare_spelling_of_a_key_does_not_take_the_role(cat, tmp_path, spaces):
    assert ColumnMapping.guess(["id", "Title", "title"]).title == "title"  # the plain lowercase name
    assert ColumnMapping.guess(["id", "NAME", "Name"], {"NAME": 1, "Name": 9}).title == "Name"  # else the usual one
    assert ColumnMapping.guess(["id", "NAME", "Name"]).title == "NAME"  # else the first
    src = tmp_path / "case.jsonl"
    src.write_text('{"id": "C1", "title": "Red silk dress"}\n{"id": "C2", "title": "Blue denim jacket"}\n'
                   '{"id": "C3", "Title": "Green wool hat"}\n')
    info = inspect_source(src)
    mapping = ColumnMapping.guess(info.columns, info.key_counts)
    assert mapping.title == "title"
    report, _ = run(cat, src, spaces, mapping=mapping)
    assert report.added == 3
    products = {p.sku: p for p in cat.products(cat.all_pks())}
    assert {sku: p.title for sku, p in products.items()} == {"C1": "Red silk dress", "C2": "Blue denim jacket",
                                                             "C3": "Green wool hat"}
    assert "Title" not in products["C3"].attributes
    src.write_text('{"id": "C4", "product_name": "Camel coat"}\n{"id": "C5", "productName": "Grey scarf"}\n')
    report, _ = run(cat, src, spaces, mapping=ColumnMapping(id="id", title="product_name"))
    assert cat.product(cat.pk_for_sku("C5")).title == "Grey scarf"  # the same name to the guess: the same role
    with pytest.raises(ImportFailed, match="does not have: Price \\(the file has 'price': letter case counts\\)"):
        ColumnMapping(id="id", price="Price").validate(["id", "price"])


def test_windows_1252_lines_of_a_utf8_file_do_not_garble_the_others_and_are_noted(cat, tmp_path, spaces):
    rows = "id,title\nM1,Café crème jacket\nM2,Blouse brodée à la main\nM3,Tröja\n".encode()
    (tmp_path / "v1.csv").write_bytes(rows)
    (tmp_path / "v2.csv").write_bytes(rows + "M4,Entrée new row\n".encode("cp1252"))
    mapping = ColumnMapping(id="id", title="title")
    run(cat, tmp_path / "v1.csv", spaces, mapping=mapping)
    report, _ = run(cat, tmp_path / "v2.csv", spaces, mapping=mapping)
    assert (report.added, report.updated, report.unchanged) == (1, 0, 3)  # the good titles are left as they were
    assert [p.title for p in cat.products(cat.all_pks())] == ["Café crème jacket", "Blouse brodée à la main",
                                                              "Tröja", "Entrée new row"]
    assert report.notes == [(5, "", "line 5 is not UTF-8: read as Windows-1252")]


def test_rows_after_an_unterminated_quote_are_imported_and_the_bad_one_is_named(cat, tmp_path, spaces):
    (tmp_path / "p.csv").write_text('id,title,price\nQ1,one,1\nQ2,two,2\nQ3,"unterminated,3\nQ4,four,4\n'
                                    'Q5,five,5\nQ6,six,6\n')
    report, _ = run(cat, tmp_path / "p.csv", spaces, mapping=ColumnMapping(id="id", title="title"), prune=True)
    assert sorted(p.sku for p in cat.products(cat.all_pks())) == ["Q1", "Q2", "Q4", "Q5", "Q6"]
    assert [(s.reason, s.detail) for s in report.skipped] == [
        ("malformed_line", 'line 4 has a quote (") that is never closed; the row is skipped and the lines after it '
                           "are read as rows")]
    assert report.removed == 0 and report.not_pruned  # that line may list a product


def test_image_skip_reasons_name_the_image_and_a_folder_is_no_image(cat, tmp_path, spaces):
    pics = tmp_path / "pics"
    (pics / "shot.jpg").mkdir(parents=True)
    (pics / "a.jpg").write_text("not an image")
    (pics / "b.jpg").write_bytes(b"")
    (tmp_path / "p.csv").write_text("id,title,image\nX1,one,pics/a.jpg\nX2,two,pics/b.jpg\nX3,three,pics/shot.jpg\n")
    report, _ = run(cat, tmp_path / "p.csv", spaces, mapping=ColumnMapping(id="id", title="title", image="image"))
    assert [(s.reason, s.detail) for s in report.skipped] == [
        ("not_an_image", "line 2: The image file 'pics/a.jpg' is not an image Vitrina can read; save it as JPEG, "
                         "PNG or WebP."),
        ("empty", "line 3: The image file 'pics/b.jpg' is empty (0 bytes); export or copy the image again."),
        ("missing", "line 4: Image 'pics/shot.jpg' is a folder, not an image. Give the path of the image file "
                    "inside it.")]


def test_copurchase_counts_are_distinct_pairs_and_a_repeated_pair_keeps_its_larger_weight(cat, tmp_path, spaces):
    (tmp_path / "p.csv").write_text("id,title\nA,a\nB,b\nC,c\n")
    run(cat, tmp_path / "p.csv", spaces, mapping=ColumnMapping(id="id", title="title"))
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("a,b,weight\nA,B,3\nB,A,5\nA,B,7\nA,B,2\nC,C,1\nC,XXX,1\nA,C,abc\n")
    rep = import_copurchases(cat, pairs)
    a, b = cat.pk_for_sku("A"), cat.pk_for_sku("B")
    assert sorted(cat.copurchase_pairs()) == [(a, b, 7.0), (b, a, 5.0)]
    assert (rep.pairs, rep.pairs_known, rep.pairs_merged, rep.pairs_reversed) == (1, 0, 2, 1)
    assert [n for _, _, n in rep.notes] == ["line 4: A and B already paired on line 2; merged, keeping the larger "
                                            "weight (7)", "line 5: A and B already paired on line 2; merged, "
                                            "keeping the larger weight (7)"]
    assert [(s.reason, s.detail) for s in rep.skipped] == [
        ("same_product", "line 6: a product paired with itself"), ("unknown_id", "line 7: id not in the catalog"),
        ("bad_weight", "line 8: weight 'abc' is not a number")]
    assert rep.pairs_summary() == (
        "co-purchase pairs: 1 imported, 3 skipped; 2 lines repeated an earlier line's pair (merged: the larger weight "
        "is kept); 1 line gave an earlier line's pair the other way round (both directions are kept)")
    again = import_copurchases(cat, pairs)
    assert (again.pairs, again.pairs_known) == (0, 1) and len(cat.copurchase_pairs()) == 2


def test_cli_import_shows_why_pairs_were_skipped_and_reports_them(tmp_path, mini_dir, monkeypatch, capsys):
    from core import cli
    from tests.fakes import fake_spaces

    monkeypatch.setattr("core.spaces.default_spaces", fake_spaces)
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("a,b,weight\nP001,P002,3\nP001,P002,7\nP003,P003,1\nP004,NOPE,1\n")
    assert cli.run(["import", str(tmp_path / "shop.vitrina"), str(mini_dir / "products.csv"), "--pairs", str(pairs),
                    "--report", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "co-purchase pairs: 1 imported, 2 skipped; 1 line repeated an earlier line's pair" in out
    assert "    line 4: a product paired with itself\n    line 5: id not in the catalog\n" in out
    assert "  1 note:\n    line 3: P001 and P002 already paired on line 2; merged, keeping the larger weight (7)" in out
    many = "".join(f"P00{i},P010,{i}\nP00{i},P010,{i + 1}\n" for i in range(1, 8))  # 7 merges
    pairs.write_text("a,b,weight\n" + many)
    assert cli.run(["import", str(tmp_path / "shop.vitrina"), str(mini_dir / "products.csv"),
                    "--pairs", str(pairs)]) == 0
    assert "  7 notes, the first 5 (--report FILE lists all):" in capsys.readouterr().out  # none was asked for
    written = json.loads((tmp_path / "r.json").read_text())
    assert (written["added"], written["pairs"], written["pairs_merged"]) == (12, 1, 1)
    assert [s["reason"] for s in written["pairs_file"]["skipped"]] == ["same_product", "unknown_id"]


def test_a_json_line_with_its_id_and_photo_keys_spelt_otherwise_keeps_its_photo_and_survives_prune(cat, tmp_path,
                                                                                                    spaces):
    Image.new("RGB", (80, 80), (200, 10, 10)).save(tmp_path / "a.png")
    Image.new("RGB", (80, 80), (10, 10, 200)).save(tmp_path / "b.png")
    mapping = ColumnMapping(id="id", title="title", price="price", image="image")
    src = tmp_path / "p.jsonl"
    src.write_text('{"id": "A", "title": "a", "price": 5, "image": "a.png"}\n'
                   '{"id": "B", "title": "b", "price": 6, "image": "b.png"}\n')
    run(cat, src, spaces, mapping=mapping)
    src.write_text('{"id": "A", "title": "a", "price": 5, "image": "a.png"}\n'
                   '{"id": "B", "Title": "b", "price": 6, "Image": "b.png"}\n')
    report, _ = run(cat, src, spaces, mapping=mapping)
    assert not report.skipped and cat.embedding_count("image") == 2  # "Image" is the image, as "Title" the title
    assert cat.product(cat.pk_for_sku("B")).title == "b"
    src.write_text('{"id": "A", "title": "a", "price": 5, "image": "a.png"}\n'
                   '{"ID": "B", "title": "b", "price": "6,x", "image": "b.png"}\n')
    report, _ = run(cat, src, spaces, mapping=mapping, prune=True)
    assert [(s.sku, s.reason) for s in report.skipped] == [("B", "bad_price")]
    assert report.removed == 0 and cat.pk_for_sku("B") is not None  # a skipped row's product is never pruned


def test_an_image_file_over_the_size_limit_is_skipped_unread_and_the_rest_imported(cat, tmp_path, spaces,
                                                                                   monkeypatch):
    Image.new("RGB", (80, 80), (200, 10, 10)).save(tmp_path / "ok.png")
    with open(tmp_path / "huge.jpg", "wb") as f:
        f.truncate(4096)
    monkeypatch.setattr("core.images._MAX_FILE_BYTES", 2048)  # the 512 MB limit, made small
    monkeypatch.setattr(Path, "read_bytes", lambda p, real=Path.read_bytes: pytest.fail(f"{p} read") if
                        p.name == "huge.jpg" else real(p))
    (tmp_path / "p.csv").write_text("id,title,image\n1,A,ok.png\n2,B,huge.jpg\n")
    report, _ = run(cat, tmp_path / "p.csv", spaces, mapping=ColumnMapping(id="id", title="title", image="image"))
    assert report.added == 1 and [(s.sku, s.reason) for s in report.skipped] == [("2", "too_large")]
    assert "huge.jpg' is larger than 512 MB" in report.skipped[0].detail


def test_a_json_file_holding_one_array_of_objects_is_read_element_by_element(cat, tmp_path, spaces):
    src = tmp_path / "p.json"
    src.write_text('[\n  {"id": 1, "title": "a", "price": 3},\n  {"id": 2,\n   "title": "b", "price": 4},\n'
                   '  7,\n  {"id": 3, "title": "c", "price": 1.299}\n]\n')
    info = inspect_source(src, whole=True)
    assert info.columns == ("id", "title", "price")
    report, _ = run(cat, src, spaces, mapping=ColumnMapping(id="id", title="title", price="price"))
    assert report.added == 3 and [(s.line, s.reason) for s in report.skipped] == [(5, "malformed_line")]
    # a JSON number is written with a decimal point: 1.299 is no thousands separator there
    assert {p.sku: p.price for p in cat.products(cat.all_pks())} == {"1": 3.0, "2": 4.0, "3": 1.299}
    src.write_text(json.dumps([{"id": i, "title": f"t{i}"} for i in range(50)]))  # minified: one line
    assert count_rows(src) >= 50
    src.write_text('[{"id": 1, "title": "a"}, {"id": 2, "title": }, {"id": 3, "title": "c"}]')
    report, _ = run(cat, src, spaces, mapping=ColumnMapping(id="id", title="title"))
    assert [s.reason for s in report.skipped] == ["malformed_line"]
    assert "the elements after it are not read" in report.skipped[0].detail


def test_a_point_before_three_digits_is_refused_when_no_other_price_tells_how_the_file_writes_decimals(
        cat, tmp_path, spaces):
    (tmp_path / "p.csv").write_text("id;title;price;rating\n1;Sofa;1.299;4.125\n2;Chair;899;\n")
    report, _ = run(cat, tmp_path / "p.csv", spaces,
                    mapping=ColumnMapping(id="id", title="title", price="price", rating="rating"))
    assert report.added == 1 and [(s.sku, s.reason, s.detail) for s in report.skipped] == [
        ("1", "ambiguous_price", "line 2: price '1.299' may be 1299 (a thousands separator) or 1.299 "
                                 "(a decimal point): write it as one of those")]
    (tmp_path / "p.csv").write_text("id;title;price;rating\n1;Sofa;1.299;4.125\n2;Chair;899,50;\n")
    report, _ = run(cat, tmp_path / "p.csv", spaces,
                    mapping=ColumnMapping(id="id", title="title", price="price", rating="rating"))
    sofa = cat.product(cat.pk_for_sku("1"))
    assert not report.skipped and (sofa.price, sofa.rating) == (1299.0, 4.125)  # a rating groups no thousands
