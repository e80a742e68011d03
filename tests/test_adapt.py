"""Adapting the ViT to a catalog: fine-tune, compare on a held-out slice, keep only an improvement."""
import numpy as np
import pytest
from PIL import Image, ImageDraw

from core.catalog import Catalog
from core.errors import AppError, Cancelled
from core.ingest import ColumnMapping, import_catalog
from core.progress import drain
from core.spaces import ADAPTED_META, spaces_for
from core.train import TrainSettings
from core.vit import HybridViT, VitConfig, save_vit
from core.vit_files import vit_model_id

SMALL = VitConfig(dim=32, depth=1, heads=2, mlp_ratio=2.0)
COLOURS = {"red": (200, 30, 30), "blue": (30, 60, 200), "green": (30, 160, 60), "yellow": (230, 210, 40),
           "purple": (120, 40, 160), "black": (20, 20, 20)}
SHAPES = ("circle", "square", "triangle", "bar", "ring", "cross", "diamond", "frame", "stripe", "dot")


def shape_catalog(tmp_path, n_shapes=len(SHAPES)):
    (tmp_path / "img").mkdir()
    rows = ["id,title,image"]
    for i, shape in enumerate(SHAPES[:n_shapes]):
        for colour, rgb in COLOURS.items():
            im = Image.new("RGB", (64, 64), "white")
            d = ImageDraw.Draw(im)
            box = [12 + i, 12, 52 - i, 52]
            {"circle": d.ellipse, "square": d.rectangle}.get(shape, d.rectangle)(box, fill=rgb)
            sku = f"{shape}-{colour}"
            im.save(tmp_path / "img" / f"{sku}.png")
            rows.append(f"{sku},{colour} {shape},img/{sku}.png")
    (tmp_path / "p.csv").write_text("\n".join(rows) + "\n")
    cat = Catalog.create(tmp_path / "shapes.vitrina")
    drain(import_catalog(cat, tmp_path / "p.csv", ColumnMapping(id="id", title="title", image="image"), []))
    return cat


@pytest.fixture
def current_small_model(monkeypatch, tmp_path):
    import torch

    torch.manual_seed(0)
    path = save_vit(HybridViT(SMALL), tmp_path / "current")
    monkeypatch.setattr("core.vit_training.SHIPPED_WEIGHTS", path)
    monkeypatch.setattr("core.vit_files.SHIPPED_WEIGHTS", path)
    return path


def test_adapt_keeps_the_better_model_and_reports_both_scores(tmp_path, current_small_model):
    from core.vit_training import adapt_to_catalog, held_out_k

    cat = shape_catalog(tmp_path)
    settings = TrainSettings(epochs=3, batch_size=16, lr=3e-3, seed=0)
    result = drain(adapt_to_catalog(cat, settings, tmp_path / "work"))
    assert result.held_out > 0 and 0 <= result.before <= 1 and 0 <= result.after <= 1
    # 60 products hold out about 9: recall@1 (chance about 1 in 9), not recall@10, which is 1.0 for any model there
    assert result.k == held_out_k(result.held_out) == 1
    assert result.kept == (result.after > result.before)
    if result.kept:
        assert cat.meta(ADAPTED_META) == "shapes.vitrina.models/vit/vit.safetensors"  # beside the catalog file
        assert result.weights == tmp_path / cat.meta(ADAPTED_META)
        vit = next(s for s in spaces_for(cat) if s.name == "vit")
        assert vit.encoder_id == vit_model_id(result.weights) != vit_model_id(current_small_model)
    else:
        assert cat.meta(ADAPTED_META) is None


def test_adapt_needs_enough_products(tmp_path, current_small_model):
    from core.vit_training import adapt_to_catalog

    cat = shape_catalog(tmp_path, n_shapes=2)
    with pytest.raises(AppError, match="at least 50 products"):
        drain(adapt_to_catalog(cat))


def test_cancelled_adaptation_keeps_the_current_model(tmp_path, current_small_model):
    from core.vit_training import adapt_to_catalog

    cat = shape_catalog(tmp_path)
    steps = {"n": 0}

    def cancel_during_training():  # 2 feature batches, 1 check after them, then training steps
        steps["n"] += 1
        return steps["n"] > 5

    result = drain(adapt_to_catalog(cat, TrainSettings(epochs=2, batch_size=16), tmp_path / "w",
                                    cancel_during_training))
    assert not result.kept and cat.meta(ADAPTED_META) is None
    assert np.isfinite(result.before)
    with pytest.raises(Cancelled):
        drain(adapt_to_catalog(cat, TrainSettings(epochs=2), tmp_path / "w2", lambda: True))


def test_category_view_is_the_category_values_alone(tmp_path):
    from core.vit_training import items_from_catalog

    (tmp_path / "img").mkdir()
    Image.new("RGB", (32, 32), "red").save(tmp_path / "img" / "a.png")
    Image.new("RGB", (32, 32), "blue").save(tmp_path / "img" / "b.png")
    (tmp_path / "p.csv").write_text("id,title,type,colour,image\n"
                                    "a,Red tee,Tshirts,Red,img/a.png\nb,Blue cap,,,img/b.png\nc,No photo,Caps,Blue,\n")
    cat = Catalog.create(tmp_path / "c.vitrina")
    mapping = ColumnMapping(id="id", title="title", image="image", categories=("type", "colour"))
    drain(import_catalog(cat, tmp_path / "p.csv", mapping, []))
    plain = {it.key: it.texts for it in items_from_catalog(cat)}
    views = {it.key: it.texts for it in items_from_catalog(cat, category_view=True)}
    assert set(views) == {"c:a", "c:b"}  # products without a photo are not training items
    assert len(plain["c:a"]) == 2 and views["c:a"][:2] == plain["c:a"]
    assert views["c:a"][2] == "Tshirts Red"
    assert views["c:b"][2] == "Blue cap"  # no category values: the title stands in
    assert {it.key: it.category for it in items_from_catalog(cat)} == {"c:a": "Tshirts Red", "c:b": ""}


def test_category_ids_share_one_category_and_keep_items_without_apart():
    from core.train import TrainItem
    from core.vit_training import category_ids

    items = [TrainItem("f:a", "a.png", ("t",), "a", "Tshirts Red"), TrainItem("f:b", "b.png", ("t",), "b", "Tshirts Red"),
             TrainItem("f:c", "c.png", ("t",), "c", ""), TrainItem("f:d", "d.png", ("t",), "d", ""),
             TrainItem("h:e", "e.png", ("t",), "e", "Tshirts Red")]
    ids = category_ids(items)
    assert ids[0] == ids[1]  # same category values
    assert len({ids[2], ids[3], ids[0]}) == 3  # no category: no positives
    assert ids[4] != ids[0]  # another catalog's category of the same name is its own


def test_the_held_out_recall_can_tell_models_apart_whatever_the_catalog_size():
    from core.train import recall_at
    from core.vit_training import held_out_k

    assert [held_out_k(n) for n in (7, 12, 45, 70, 100, 2000)] == [1, 1, 4, 7, 10, 10]
    rng = np.random.default_rng(0)
    for n in (9, 12, 70):  # random vectors: recall@10 of up to 10 products was a perfect 1.0
        img, txt = rng.normal(size=(n, 32)), rng.normal(size=(n, 32))
        assert recall_at(img, txt, held_out_k(n)) < 0.5


def test_a_cancel_during_the_last_comparison_keeps_nothing(tmp_path, current_small_model, monkeypatch):
    import core.vit_training
    from core.vit_training import adapt_to_catalog

    cat = shape_catalog(tmp_path)
    calls, real = [], core.vit_training.recall_at

    def compared(*args):  # the adapted model's comparison is the second: Cancel is pressed during it
        calls.append(1)
        return real(*args) if len(calls) == 1 else 1.0  # it would have been kept
    monkeypatch.setattr(core.vit_training, "recall_at", compared)
    with pytest.raises(Cancelled):
        drain(adapt_to_catalog(cat, TrainSettings(epochs=1, batch_size=16), tmp_path / "w",
                               lambda: len(calls) >= 2))
    assert cat.meta(ADAPTED_META) is None and not (tmp_path / "shapes.vitrina.models" / "vit").exists()
