"""`vitrina train-vit` and ``train_on_catalogs`` on tiny catalogs, with fake features and texts (seconds):
arguments checked before any work, a run without validation products, a missing group column, and a
checkpoint of another run in a shared work folder."""
import numpy as np
import pytest

import main
from core.catalog import Catalog
from core.errors import AppError
from core.ingest import ColumnMapping, import_catalog
from core.progress import drain
from core.train import TrainSettings
from core.vit import VitConfig, load_vit, weights_digest
from tests.fakes import BagOfWordsEncoder

TINY = VitConfig(in_channels=8, grid=4, dim=32, depth=1, heads=2, mlp_ratio=2.0, out_dim=16)
SETTINGS = TrainSettings(epochs=1, batch_size=4, lr=3e-3)


def import_mini(path, mini_dir, rows=None):
    csv = mini_dir / "products.csv"
    if rows:  # the first rows only: another catalog
        csv = mini_dir / f"first{rows}.csv"
        csv.write_text("".join((mini_dir / "products.csv").read_text().splitlines(keepends=True)[:rows + 1]))
    mapping = ColumnMapping.guess(["id", "title", "description", "brand", "price", "rating", "image"]) \
        .with_overrides(categories=("articleType", "baseColour"))
    cat = Catalog.create(path)
    drain(import_catalog(cat, csv, mapping, []))
    cat.close()
    return path


@pytest.fixture
def fast_training(monkeypatch):
    """Random feature maps instead of the CNN's, bag-of-words texts instead of MiniLM's; counts extractions."""
    calls = {"features": 0}

    def features(items, cfg, cache, cancelled):
        calls["features"] += 1
        rng = np.random.default_rng(len(items))
        if False:
            yield
        return rng.normal(size=(len(items), cfg.in_channels, cfg.grid, cfg.grid)).astype(np.float16)

    monkeypatch.setattr("core.vit_training._features", features)
    monkeypatch.setattr("core.vit_training.minilm", lambda: BagOfWordsEncoder(dim=TINY.out_dim))
    return calls


@pytest.fixture
def no_training(monkeypatch):
    """train_on_catalogs replaced: records whether the command got as far as training."""
    called = []

    def fake(*args, **kwargs):
        called.append(args)
        if False:
            yield
        return {"history": [{"epoch": 1, "loss": 1.0, "val_text_to_image_r10": None}], "products": 5}

    monkeypatch.setattr("core.vit_training.train_on_catalogs", fake)
    return called


@pytest.mark.parametrize("option", [["--batch-size", "0"], ["--batch-size", "-5"], ["--dim", "0"], ["--depth", "0"],
                                    ["--lr", "0"], ["--lr", "-1"], ["--lr", "nan"]])
def test_train_vit_refuses_numbers_out_of_range(tmp_path, no_training, capsys, option):
    (tmp_path / "c.vitrina").touch()
    with pytest.raises(SystemExit) as exc:
        main.main(["train-vit", str(tmp_path / "out"), "--catalog", str(tmp_path / "c.vitrina"), *option])
    assert exc.value.code == 2 and option[0] in capsys.readouterr().err and not no_training


def test_train_vit_checks_dim_heads_and_outputs_before_any_work(tmp_path, no_training, capsys):
    cat = tmp_path / "c.vitrina"
    cat.touch()
    (tmp_path / "afile").touch()
    assert main.main(["train-vit", str(tmp_path / "out"), "--catalog", str(cat), "--dim", "10"]) == 2
    assert "--dim 10 is not a multiple of the 4 attention heads" in capsys.readouterr().err
    assert main.main(["train-vit", str(tmp_path / "afile"), "--catalog", str(cat)]) == 2
    assert "afile is a file" in capsys.readouterr().err
    assert main.main(["train-vit", str(tmp_path / "out"), "--catalog", str(cat),
                      "--summary", str(tmp_path / "missing" / "s.json")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not no_training


def test_train_vit_without_validation_products_prints_na_and_writes_the_summary(tmp_path, no_training, capsys):
    cat = tmp_path / "c.vitrina"
    cat.touch()
    summary = tmp_path / "s.json"
    assert main.main(["train-vit", str(tmp_path / "out"), "--catalog", str(cat), "--summary", str(summary)]) == 0
    assert "val text->image R@10 n/a" in capsys.readouterr().out
    assert summary.exists() and no_training


def test_training_without_train_products_is_refused_before_any_work(tmp_path, mini_dir, fast_training, monkeypatch):
    from core.vit_training import CatalogSource, train_on_catalogs

    cat = import_mini(tmp_path / "shop.vitrina", mini_dir)
    monkeypatch.setattr("core.vit_training.split_of", lambda group, seed=0, **kw: "test")
    with pytest.raises(AppError, match="training split"):
        drain(train_on_catalogs([CatalogSource(cat)], tmp_path / "out", tmp_path / "work", SETTINGS, TINY))
    assert fast_training["features"] == 0


def test_group_column_the_catalog_lacks_is_refused(tmp_path, mini_dir, fast_training):
    from core.vit_training import CatalogSource, train_on_catalogs

    cat = import_mini(tmp_path / "shop.vitrina", mini_dir)
    with pytest.raises(AppError, match="has no column 'no_such_column' to split by; its columns: .*articleType"):
        drain(train_on_catalogs([CatalogSource(cat, "no_such_column")], tmp_path / "out", tmp_path / "w",
                                SETTINGS, TINY))
    assert fast_training["features"] == 0
    summary = drain(train_on_catalogs([CatalogSource(cat, "articleType")], tmp_path / "out", tmp_path / "w",
                                      SETTINGS, TINY))
    assert summary["products"] == 12


def test_checkpoint_of_another_run_is_not_resumed(tmp_path, mini_dir, fast_training, caplog):
    from core.vit_training import CatalogSource, train_on_catalogs

    a = import_mini(tmp_path / "a.vitrina", mini_dir)
    b = import_mini(tmp_path / "b.vitrina", mini_dir, rows=9)
    work = tmp_path / "work"  # shared by every run, as the default --work is
    first = drain(train_on_catalogs([CatalogSource(a)], tmp_path / "out_a", work, SETTINGS, TINY))
    other = drain(train_on_catalogs([CatalogSource(b)], tmp_path / "out_b", work, SETTINGS, TINY))
    assert "another run" in caplog.text
    assert weights_digest(load_vit(tmp_path / "out_a")[0]) != weights_digest(load_vit(tmp_path / "out_b")[0])
    assert other["products"] == 9 and len(first["history"]) == len(other["history"]) == 1
    assert other["history"][0]["loss"] != first["history"][0]["loss"]
    wider = VitConfig(**{**TINY.__dict__, "dim": 48})  # another model config: no size-mismatch traceback
    drain(train_on_catalogs([CatalogSource(b)], tmp_path / "out_c", work, SETTINGS, wider))
    assert load_vit(tmp_path / "out_c")[0].cfg == wider
