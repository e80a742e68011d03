"""Where a catalog's models are found: the adapted ViT beside the catalog, a moved CLIP folder, the text cache."""
import logging
import os

import numpy as np
import pytest

from core.catalog import Catalog
from core.spaces import ADAPTED_META, CLIP_META, spaces_for, vit_space
from core.train import TrainItem
from core.vit import HybridViT, save_vit
from core.vit_files import vit_model_id
from tests.fakes import BagOfWordsEncoder, fake_spaces

from tests.test_adapt import SMALL, current_small_model  # noqa: F401 (a fixture: the small ViT as the shipped one)


@pytest.fixture
def shipped(monkeypatch, current_small_model):  # noqa: F811
    monkeypatch.setattr("core.spaces.default_spaces", lambda: [*fake_spaces(), vit_space(current_small_model)])
    return current_small_model


def adapted_catalog(folder):
    """A catalog with an adapted ViT in its .models folder, stored the way `vitrina adapt` stores it."""
    import torch

    from core.spaces import stored_weights_path
    from core.vit_training import adapted_weights_folder

    torch.manual_seed(1)
    folder.mkdir(parents=True, exist_ok=True)
    cat = Catalog.create(folder / "shop.vitrina")
    weights = save_vit(HybridViT(SMALL), adapted_weights_folder(cat))
    with cat.transaction():
        cat.set_meta(ADAPTED_META, stored_weights_path(cat, weights))
    return cat, vit_model_id(weights)


def vit_id(cat):
    return next(s for s in spaces_for(cat) if s.name == "vit").encoder_id


def test_adapted_vit_is_found_from_any_working_directory_and_after_moving(tmp_path, shipped, monkeypatch):
    from core.vit_training import current_weights

    cat, adapted_id = adapted_catalog(tmp_path / "shop")
    assert cat.meta(ADAPTED_META) == "shop.vitrina.models/vit/vit.safetensors"  # relative to the catalog's folder
    cat.close()
    os.rename(tmp_path / "shop", tmp_path / "moved")  # the catalog with its .models folder
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    moved = Catalog.open(tmp_path / "moved" / "shop.vitrina")
    assert vit_id(moved) == adapted_id != vit_model_id(shipped)
    assert vit_model_id(current_weights(moved)) == adapted_id


def test_adapted_vit_stored_by_an_older_version_relative_to_its_working_directory(tmp_path, shipped, monkeypatch):
    cat, adapted_id = adapted_catalog(tmp_path / "shop")
    with cat.transaction():  # what adapt wrote when run as `vitrina adapt shop/shop.vitrina` from tmp_path
        cat.set_meta(ADAPTED_META, "shop/shop.vitrina.models/vit/vit.safetensors")
    monkeypatch.chdir(tmp_path)
    assert vit_id(cat) == adapted_id
    monkeypatch.chdir(tmp_path / "shop")  # not found as written from here: the default place beside the catalog is
    assert vit_id(cat) == adapted_id


def test_missing_adapted_vit_is_said_and_adapt_starts_from_the_shipped_weights(tmp_path, shipped, caplog):
    import shutil

    from core.vit_training import current_weights

    cat, _ = adapted_catalog(tmp_path / "shop")
    shutil.rmtree(tmp_path / "shop" / "shop.vitrina.models")
    with caplog.at_level(logging.WARNING):
        assert vit_id(cat) == vit_model_id(shipped)
    assert "is missing" in caplog.text and "shipped ViT is used" in caplog.text
    assert current_weights(cat) == shipped  # adapt can start again; no "train them with vitrina train-vit"


def test_the_window_is_told_what_opening_a_catalog_found_not_only_the_log(tmp_path, shipped):
    import shutil

    from core.progress import drain
    from gui import backend

    cat, _ = adapted_catalog(tmp_path / "shop")
    cat.close()
    shutil.rmtree(tmp_path / "shop" / "shop.vitrina.models")
    engine = drain(backend.open_catalog(tmp_path / "shop" / "shop.vitrina"))
    assert len(engine.notes) == 1 and "is missing" in engine.notes[0]  # the window shows them in a box
    engine.catalog.close()


def test_catalog_with_a_moved_clip_folder_opens_without_its_clip_space(tmp_path, shipped, caplog):
    cat = Catalog.create(tmp_path / "c.vitrina")
    with cat.transaction():
        cat.set_meta(CLIP_META, str(tmp_path / "clipmodel"))
    with caplog.at_level(logging.WARNING):
        names = [s.name for s in spaces_for(cat)]
    assert names == ["image", "text", "vit"]
    assert str(tmp_path / "clipmodel") in caplog.text and "--clip FOLDER" in caplog.text


def test_a_cut_short_text_cache_is_computed_again(tmp_path):
    from core.vit_training import text_views

    items = [TrainItem(f"c:{i}", f"{i}.png", (f"red dress {i}", f"dress {i}"), str(i), "") for i in range(4)]
    first = text_views(items, tmp_path, BagOfWordsEncoder())
    (cache,) = tmp_path.glob("texts-*.npy")
    assert not list(tmp_path.glob("*.tmp"))
    cache.write_bytes(cache.read_bytes()[:100])  # what a kill -9 or a full disk in the middle of the write leaves
    again = text_views(items, tmp_path, BagOfWordsEncoder())
    assert np.allclose(again, first)
    assert np.allclose(text_views(items, tmp_path, BagOfWordsEncoder()), first)  # and the cache is whole again
