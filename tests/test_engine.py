"""The engine keeps indexes in step with the catalog: load, detect stale, update in place."""
import json

from PIL import Image

from core.catalog import Catalog
from core.engine import Engine
from core.ingest import ColumnMapping, ImportOptions, import_catalog
from core.progress import drain
from core.search import Query, search


def reopen(engine, spaces):
    eng = Engine(Catalog.open(engine.catalog.path), spaces)
    return eng, list(eng.load_indexes())


def test_saved_indexes_load_without_rebuild(engine, spaces):
    eng, messages = reopen(engine, spaces)
    assert messages == ["image: loaded 12 vectors", "text: loaded 12 vectors"]
    assert [h.pk for h in search(eng, Query(text="red dress", k=3))] == \
        [h.pk for h in search(engine, Query(text="red dress", k=3))]


def test_index_from_another_encoder_or_stale_revision_is_rebuilt(engine, spaces):
    from tests.fakes import BagOfWordsEncoder
    from core.spaces import Space

    with engine.catalog.transaction():  # a write the saved index has not seen
        engine.catalog.delete_embeddings("text", [engine.catalog.pk_for_sku("P001")])
    eng, messages = reopen(engine, spaces)
    assert messages[0] == "image: loaded 12 vectors"
    assert messages[1].startswith("text: rebuilt") and len(eng.indexes["text"]) == 11
    other = [spaces[0], Space("text", BagOfWordsEncoder("fake-v2"), "text")]
    eng2, messages = reopen(engine, other)
    assert "encoder" in messages[1] and len(eng2.indexes["text"]) == 0  # old vectors are not mixed in
    assert "index --rebuild" not in messages[1]  # it was rebuilt: no advice to rebuild it


def test_apply_changes_updates_index_in_place(engine, spaces, mini_dir):
    csv = mini_dir / "products.csv"
    csv.write_text(csv.read_text().replace("Red shirt,", "Golden trumpet,"))
    Image.new("RGB", (48, 48), (250, 250, 0)).save(mini_dir / "images" / "P002.png")
    mapping = ColumnMapping(id="id", title="title", description="description", image="image")
    lines = csv.read_text().splitlines()
    csv.write_text("\n".join(lines[:-1]) + "\n")  # P012 disappears
    report = drain(import_catalog(engine.catalog, csv, mapping, spaces, ImportOptions(prune=True)))
    removed_pk = 12
    engine.apply_changes(report.embedded, removed=[removed_pk])
    hits = search(engine, Query(text="golden trumpet", k=1))
    assert engine.catalog.product(hits[0].pk).sku == "P001"
    assert removed_pk not in engine.indexes["image"].ids()
    yellow = Image.new("RGB", (48, 48), (250, 250, 0))
    assert engine.catalog.product(search(engine, Query(image=yellow, k=1))[0].pk).sku == "P002"
    eng, messages = reopen(engine, spaces)  # what was saved is current: no rebuild
    assert all("loaded" in m for m in messages)
    rev = json.loads((engine.folder / "text" / "catalog_revision.json").read_text())["revision"]
    assert rev == engine.catalog.revision("text")


def test_an_index_left_by_a_deleted_catalog_of_the_same_name_is_not_used(tmp_path, mini_dir, spaces):
    def import_into_new_catalog(csv):
        cat = Catalog.create(tmp_path / "shop.vitrina")
        drain(import_catalog(cat, csv, ColumnMapping(id="id", title="title", image="image"), spaces,
                             ImportOptions(image_root=mini_dir)))
        eng = Engine(cat, spaces)
        return eng, list(eng.load_indexes())

    eng, _ = import_into_new_catalog(mini_dir / "products.csv")
    eng.catalog.close()
    (tmp_path / "shop.vitrina").unlink()  # its index folder stays behind
    lines = (mini_dir / "products.csv").read_text().splitlines()
    (tmp_path / "reversed.csv").write_text("\n".join([lines[0], *reversed(lines[1:])]) + "\n")
    eng, messages = import_into_new_catalog(tmp_path / "reversed.csv")  # the same pks name other products
    assert messages == ["image: rebuilt (the image index was built for another catalog at this path)",
                        "text: rebuilt (the text index was built for another catalog at this path)"]
    hit = search(eng, Query(text="red shirt", k=1))[0]
    assert eng.catalog.product(hit.pk).sku == "P001"
    eng.catalog.close()


def test_a_restored_backup_never_uses_the_index_of_the_catalog_it_replaced(engine, spaces, tmp_path):
    import shutil

    path, backup = engine.catalog.path, tmp_path / "backup.vitrina"
    engine.catalog.execute("VACUUM INTO ?", (str(backup),))
    first, second = engine.catalog.pk_for_sku("P001"), engine.catalog.pk_for_sku("P002")
    with engine.catalog.transaction():
        engine.catalog.delete_embeddings("text", [first])
    eng, messages = reopen(engine, spaces)  # saves a text index without P001
    assert messages[1].startswith("text: rebuilt")
    eng.catalog.close()
    engine.catalog.close()
    shutil.copy(backup, path)  # the backup restored, then changed as much (a counter would be where the index is)
    with Catalog.open(path) as restored, restored.transaction():
        restored.delete_embeddings("text", [second])
    eng, messages = reopen(engine, spaces)
    assert messages[1] == "text: rebuilt (the text index is of another version of the catalog)"
    assert eng.indexes["text"].contains(first) and not eng.indexes["text"].contains(second)
    eng.catalog.close()
    shutil.copy(backup, path)  # restored and opened at once: older than the index
    eng, messages = reopen(engine, spaces)
    assert messages[1].startswith("text: rebuilt") and len(eng.indexes["text"]) == 12
    eng.catalog.close()


def test_an_index_that_cannot_be_saved_is_searched_from_memory_with_a_warning(engine, spaces, monkeypatch, caplog):
    import faiss
    import pytest

    from core.index import VectorIndex

    def refuse(index, path):
        raise RuntimeError(f"Error in faiss::FileIOWriter: could not open {path} for writing: Permission denied")

    monkeypatch.setattr(faiss, "write_index", refuse)
    with pytest.raises(OSError, match="Permission denied"):
        VectorIndex(4, "x").save(engine.folder / "elsewhere")
    with engine.catalog.transaction():  # the saved text index is stale now: it is rebuilt, and saving it fails
        engine.catalog.delete_embeddings("text", [engine.catalog.pk_for_sku("P001")])
    eng, messages = reopen(engine, spaces)
    assert messages[1].startswith("text: rebuilt") and len(eng.indexes["text"]) == 11
    assert any("could not be saved" in r.getMessage() and "Permission denied" in r.getMessage()
               for r in caplog.records)
    assert search(eng, Query(text="red dress", k=3))  # it was a traceback


def test_a_damaged_revision_file_rebuilds_its_index(engine, spaces):
    path = engine.folder / "text" / "catalog_revision.json"
    saved = json.loads(path.read_text())
    for revision in (float("inf"), 3.5, "7", True, None):
        path.write_text(json.dumps({**saved, "revision": revision}))  # Infinity: an OverflowError escaped
        eng, messages = reopen(engine, spaces)
        assert messages[0] == "image: loaded 12 vectors" and messages[1].startswith("text: rebuilt"), revision
        assert len(eng.indexes["text"]) == 12
        eng.catalog.close()
