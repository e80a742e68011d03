"""The catalog file is never changed by opening what is not a catalog; a damaged one is said to be damaged; an
index is saved with the revision of the vectors it holds, though another process writes meanwhile."""
import sqlite3

import numpy as np
import pytest

from core import cli
from core.catalog import Catalog, ProductRecord
from core.engine import Engine
from core.errors import CatalogError, IndexMismatch, user_message


def _journal_mode(path) -> str:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        conn.close()


@pytest.mark.parametrize("user_version", [0, 1])
def test_another_applications_sqlite_file_is_refused_and_left_as_it_was(tmp_path, user_version):
    notes = tmp_path / "notes.db"
    conn = sqlite3.connect(notes)
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
    conn.execute("INSERT INTO notes (text) VALUES ('keep me')")
    conn.execute(f"PRAGMA user_version={user_version}")  # many applications number their schema too
    conn.commit()
    conn.close()
    before = notes.read_bytes()
    with pytest.raises(CatalogError, match="not a Vitrina catalog"):
        Catalog.open(notes)
    assert _journal_mode(notes) == "delete" and notes.read_bytes() == before
    assert not (tmp_path / "notes.db-wal").exists()


def test_a_catalog_damaged_inside_is_said_to_be_damaged(tmp_path, capsys):
    path = tmp_path / "shop.vitrina"
    with Catalog.create(path) as cat, cat.transaction():
        n = 400
        pks = [cat.upsert_product(ProductRecord(f"S{i}", f"Shirt {i}", "", None, None, None, {}, str(i)))
               for i in range(n)]
        cat.put_embeddings("vit", "enc", pks, [str(i) for i in range(n)],
                           np.random.default_rng(0).normal(size=(n, 64)).astype(np.float32))
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 40_000] = np.random.default_rng(1).integers(0, 256, 40_000, np.uint8).tobytes()
    path.write_bytes(data)  # the header is intact: it opens, and fails on reading
    assert cli.run(["clusters", str(path)]) == 2
    err = capsys.readouterr().err
    assert "damaged" in err and "Traceback" not in err and "backup" in err


def test_sqlite_errors_are_said_as_what_they_mean_for_the_catalog():
    assert "damaged" in user_message(sqlite3.DatabaseError("database disk image is malformed"))
    assert "busy" in user_message(sqlite3.OperationalError("database is locked"))
    assert "disk" in user_message(sqlite3.OperationalError("disk I/O error"))
    assert user_message(CatalogError("as it is")) == "as it is"


def test_an_index_rebuilt_while_another_process_writes_keeps_the_revision_it_read(engine, spaces, monkeypatch):
    from core.index import VectorIndex

    path = engine.catalog.path
    build = VectorIndex.build

    def build_while_an_import_commits(*args, **kwargs):
        other = Catalog.open(path)  # another process: it changes one vector after the rebuild read them
        with other.transaction():
            pk = other.pk_for_sku("P001")
            changed = np.ones((1, spaces[1].encoder.dim), np.float32)
            other.put_embeddings("text", spaces[1].encoder_id, [pk], ["changed"], changed / np.linalg.norm(changed))
        other.close()
        return build(*args, **kwargs)

    monkeypatch.setattr(VectorIndex, "build", staticmethod(build_while_an_import_commits))
    engine.rebuild("text")
    monkeypatch.setattr(VectorIndex, "build", staticmethod(build))
    eng = Engine(Catalog.open(path), spaces)
    messages = list(eng.load_indexes())
    assert messages[1].startswith("text: rebuilt")  # the saved index missed a write: it is not trusted
    pk = eng.catalog.pk_for_sku("P001")
    assert np.allclose(eng.indexes["text"].vectors(np.array([pk])), eng.stored_vectors("text", [pk]))
    eng.catalog.close()


def test_the_index_count_message_names_the_space_not_products(tmp_path):
    from core.index import VectorIndex

    x = np.random.default_rng(0).normal(size=(12, 8)).astype(np.float32)
    VectorIndex.build(np.arange(1, 13), x / np.linalg.norm(x, axis=1, keepdims=True), "enc").save(tmp_path / "i")
    with pytest.raises(IndexMismatch, match="12 vectors, but the catalog has 11 in this space"):
        VectorIndex.load(tmp_path / "i", encoder_id="enc", dim=8, count=11)


def test_an_import_committed_between_another_s_decisions_and_its_write_makes_them_decided_again(
        tmp_path, mini_dir, spaces, monkeypatch):
    import core.ingest
    from core.encoders import text_hash
    from core.ingest import ColumnMapping, import_catalog
    from core.progress import drain
    from core.spaces import product_text

    csv = mini_dir / "products.csv"
    mapping = ColumnMapping.guess(csv.read_text().splitlines()[0].split(","))
    path = tmp_path / "shop.vitrina"
    with Catalog.create(path) as catalog:
        drain(import_catalog(catalog, csv, mapping, spaces))
    renamed = mini_dir / "renamed.csv"
    renamed.write_text(csv.read_text().replace("shirt,", "shirt v2,"))
    real, calls = core.ingest._decide, []

    def meanwhile(*args, **kw):  # the other process commits after this one read the batch's state
        ready = real(*args, **kw)
        if calls == ["other's"]:
            return ready  # the other import's own decisions
        if not calls:
            calls.append("other's")
            with Catalog.open(path) as other:
                drain(import_catalog(other, renamed, mapping, spaces))
            assert [p.title for p in other_titles()][:1] == ["Red shirt v2"]
        calls.append("mine")
        return ready

    def other_titles():
        with Catalog.open(path) as c:
            return c.products(c.all_pks())

    monkeypatch.setattr(core.ingest, "_decide", meanwhile)
    with Catalog.open(path) as catalog:  # the first file again: it writes last, so its titles win
        report = drain(import_catalog(catalog, csv, mapping, spaces))
        # decided twice; before, the first decisions stood: 12 "unchanged", the other's titles left with these vectors
        assert calls == ["other's", "mine", "mine"] and report.updated == 4 and report.unchanged == 8
        for p in catalog.products(catalog.all_pks()):
            assert not p.title.endswith("v2")
            stored = catalog.embedding_hashes("text", [p.pk])[p.pk][1]
            assert stored == text_hash(product_text(p.title, p.brand, p.description))  # vectors of the text kept


def test_a_new_product_never_takes_a_deleted_one_s_pk(tmp_path, mini_dir, spaces):
    from core.ingest import ColumnMapping, import_catalog
    from core.progress import drain

    csv = mini_dir / "products.csv"
    with Catalog.create(tmp_path / "shop.vitrina") as catalog:
        drain(import_catalog(catalog, csv, ColumnMapping.guess(csv.read_text().splitlines()[0].split(",")), spaces))
        highest = max(int(p) for p in catalog.all_pks())
        with catalog.transaction():
            catalog.delete_products([highest])
        (tmp_path / "new.csv").write_text("id,title\nN100,Yellow hat\n")
        drain(import_catalog(catalog, tmp_path / "new.csv", ColumnMapping(id="id", title="title"), spaces))
        assert catalog.pk_for_sku("N100") == highest + 1  # it was given the deleted product's pk (and its vectors)


def test_an_interrupted_first_import_leaves_a_catalog_another_import_is_filling(tmp_path, mini_dir, spaces):
    from core.ingest import ColumnMapping, import_catalog
    from core.progress import drain

    path = tmp_path / "n.vitrina"
    mine = Catalog.create(path)  # this process made it; another one opened it and imports meanwhile
    csv = mini_dir / "products.csv"
    with Catalog.open(path) as other:
        drain(import_catalog(other, csv, ColumnMapping.guess(csv.read_text().splitlines()[0].split(",")), spaces))
    assert not mine.discard_if_unused() and path.exists()  # it was deleted, with the other's products
    with Catalog.open(path) as catalog:
        assert len(catalog) == 12
    empty = Catalog.create(tmp_path / "e.vitrina")
    assert empty.discard_if_unused() and not (tmp_path / "e.vitrina").exists()
    busy, waiting = Catalog.create(tmp_path / "b.vitrina"), Catalog.open(tmp_path / "b.vitrina")
    with waiting.transaction():  # another connection writing: left alone, at once (no wait for the lock)
        assert not busy.discard_if_unused() and (tmp_path / "b.vitrina").exists()
    waiting.close()


def test_an_empty_file_of_another_kind_is_not_made_a_catalog(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_bytes(b"")
    with pytest.raises(CatalogError, match="is an empty file, not a Vitrina catalog"):
        Catalog.open(notes)
    assert notes.read_bytes() == b"" and not (tmp_path / "notes.txt-wal").exists()
    (tmp_path / "new.vitrina").write_bytes(b"")  # an empty .vitrina file: a new catalog, as before
    with Catalog.open(tmp_path / "new.vitrina") as catalog:
        assert len(catalog) == 0


def test_a_catalog_replaced_while_open_is_not_written_through_the_old_connection(tmp_path):
    """A backup put in the place of an open catalog: a write through the old connection went into the journal the
    new file shares, and damaged it. Now nothing is written, and the error says why."""
    import os
    import shutil

    path, backup = tmp_path / "shop.vitrina", tmp_path / "backup.vitrina"
    with Catalog.create(backup) as b, b.transaction():
        b.upsert_product(ProductRecord("B1", "Backup shirt", "", None, None, None, {}, "h"))
    cat = Catalog.create(path)
    with cat.transaction():
        cat.upsert_product(ProductRecord("A0", "Kept shirt", "", None, None, None, {}, "h"))
    shutil.copy(path, tmp_path / "copy.vitrina")  # a backup of the file alone, made while it is open
    with Catalog.open(tmp_path / "copy.vitrina") as copy:
        assert len(copy) == 1  # what was committed is in the file, not only in its log
    assert not cat.replaced()
    os.replace(backup, path)
    assert cat.replaced()
    with pytest.raises(CatalogError, match="deleted, moved or replaced"):
        with cat.transaction():
            cat.upsert_product(ProductRecord("A1", "Shirt", "", None, None, None, {}, "h"))
    with pytest.raises(CatalogError, match="replaced"):
        cat.set_meta("note", "x")
    cat.close()
    with Catalog.open(path) as restored:
        assert restored.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert len(restored) == 1 and restored.product(restored.pk_for_sku("B1")).title == "Backup shirt"
    deleted = Catalog.create(tmp_path / "gone.vitrina")
    (tmp_path / "gone.vitrina").unlink()
    with pytest.raises(CatalogError, match="deleted"):
        deleted.set_meta("note", "x")
    deleted.close()


@pytest.mark.parametrize("tables", [True, False])
def test_a_newer_catalog_or_a_numbered_empty_file_is_refused_before_it_is_changed(tmp_path, tables):
    path = tmp_path / "new.vitrina"
    with Catalog.create(path):
        pass
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=DELETE")  # as a newer Vitrina (or a copy tool) may leave it
    if not tables:
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall():
            conn.execute(f"DROP TABLE {name}")
    conn.execute("PRAGMA user_version=99")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(CatalogError, match="newer Vitrina" if tables else "not a Vitrina catalog"):
        Catalog.open(path)
    assert _journal_mode(path) == "delete" and path.read_bytes() == before


def test_an_unused_catalog_is_discarded_despite_its_own_import_run_not_another_connections(tmp_path):
    mine = Catalog.create(tmp_path / "mine.vitrina")
    mine.start_import_run("products.csv")  # its import failed before its first product
    assert mine.discard_if_unused() and not (tmp_path / "mine.vitrina").exists()
    theirs = Catalog.create(tmp_path / "theirs.vitrina")
    with Catalog.open(tmp_path / "theirs.vitrina") as other:
        other.start_import_run("products.csv")  # another import, between its batches
    assert not theirs.discard_if_unused() and (tmp_path / "theirs.vitrina").exists()


def test_a_catalog_opened_by_a_relative_name_is_the_same_file_wherever_the_working_folder_goes(tmp_path, monkeypatch):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    with Catalog.create("shop.vitrina"):
        pass
    cat = Catalog.open("shop.vitrina")
    assert cat.path == tmp_path / "a" / "shop.vitrina"  # the import dialog read the bare name as a new catalog
    monkeypatch.chdir(tmp_path / "b")
    assert not cat.replaced()
    cat.set_meta("note", "x")  # refused as "replaced" once the working folder changed
    cat.close()


def test_the_catalogs_own_writes_leave_its_change_marker_but_another_connections_move_it(tmp_path):
    cat = Catalog.create(tmp_path / "shop.vitrina")
    marker = cat.change_marker()
    cat.set_meta("insights:x", "{}")  # its log emptied after the write: no change of another connection
    assert cat.change_marker() == marker
    with Catalog.open(tmp_path / "shop.vitrina") as other, other.transaction():
        other.upsert_product(ProductRecord("S1", "Shirt", "", None, None, None, {}, "h"))
    assert cat.change_marker() != marker
    cat.close()
