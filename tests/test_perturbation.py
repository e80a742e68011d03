"""The perturbation map on scores whose right answer is known."""
import numpy as np
import pytest
from PIL import Image

import explain.perturbation as P
from explain.faithfulness import curves, mean_imputer
from explain.perturbation import perturbation_map, region_effects, removal_masks


def red_share(images):
    """Score = share of strongly red pixels: the known answer is 'the red square'."""
    return np.array([((a[..., 0] > 150) & (a[..., 1] < 80)).mean()
                     for a in (np.asarray(im, np.int32) for im in images)])


def scene(size=(70, 70)):
    a = np.full((70, 70, 3), 230, np.uint8)
    a[10:20, 50:60] = (220, 20, 20)  # the red square: region (1, 5) of a 7 x 7 grid
    a[40:60, 0:30] = (20, 20, 200)  # a blue distractor
    return Image.fromarray(a).resize(size, Image.NEAREST)


def test_the_red_square_is_the_top_region_and_its_map_beats_random():
    image = scene()
    before = np.asarray(image).copy()
    m = perturbation_map(image, red_share, imputer=mean_imputer, seed=0)
    effects = m.extras["effects"]
    assert m.method == "perturbation" and effects.shape == (7, 7)
    assert np.unravel_index(np.argmax(effects), effects.shape) == (1, 5)
    assert effects[1, 5] > 5 * np.abs(np.delete(effects.ravel(), 1 * 7 + 5)).max()
    assert m.values.shape == (70, 70) and m.values.min() >= 0 and np.all(np.isfinite(m.values))
    assert m.extras["r2"] > 0.9
    c = curves(image, m.values, red_share, grid=7, steps=7, imputer=mean_imputer, orders=8)
    assert c.deletion_auc < 0.5 * c.random_deletion_auc and c.beats_random
    assert np.array_equal(np.asarray(image), before)
    again = perturbation_map(image, red_share, imputer=mean_imputer, seed=0)
    assert np.array_equal(again.values, m.values)


def test_masks_come_in_complementary_pairs():
    masks = removal_masks(49, 8, np.random.default_rng(0))
    assert masks.shape == (8, 49) and masks.dtype == bool
    assert np.array_equal(masks[4:], ~masks[:4])
    assert np.all((masks.sum(1) >= 1) & (masks.sum(1) <= 48))
    for bad in (0, 1, 7):
        with pytest.raises(ValueError, match="even"):
            removal_masks(49, bad, np.random.default_rng(0))
    with pytest.raises(ValueError, match="2 regions"):
        removal_masks(1, 8, np.random.default_rng(0))


def test_region_effects_recover_a_linear_score():
    rng = np.random.default_rng(1)
    masks = removal_masks(9, 64, rng)
    truth = rng.normal(size=9)
    effects, r2 = region_effects(masks, 0.7 - masks @ truth, ridge=1e-9)
    assert np.allclose(effects, truth, atol=1e-6) and r2 > 0.999999
    flat, r2_flat = region_effects(masks, np.full(64, 0.7))
    assert np.allclose(flat, 0) and r2_flat == 0.0


def test_a_photo_the_score_ignores_gives_a_flat_map():
    m = perturbation_map(scene(), lambda ims: np.full(len(ims), 0.5), samples=16, seed=0)
    assert np.allclose(m.values, 0) and m.extras["r2"] == 0.0


def test_batches_are_bounded_and_large_photos_give_a_bounded_map(monkeypatch):
    sizes = []

    def score(images):
        sizes.append(len(images))
        return red_share(images)

    monkeypatch.setattr(P, "CHUNK", 10)
    small = perturbation_map(scene(), score, samples=32, imputer=mean_imputer, seed=3)
    assert sizes == [10, 10, 10, 2]
    monkeypatch.setattr(P, "CHUNK", 64)
    whole = perturbation_map(scene(), red_share, samples=32, imputer=mean_imputer, seed=3)
    assert np.array_equal(small.values, whole.values)
    big = perturbation_map(scene((1400, 700)), red_share, samples=16, imputer=mean_imputer, seed=0)
    assert big.values.shape == (256, 512)


def test_a_failing_score_raises_and_leaves_the_photo_as_it_was():
    image = scene()
    before = np.asarray(image).copy()

    def broken(images):
        raise RuntimeError("model failed")

    with pytest.raises(RuntimeError, match="model failed"):
        perturbation_map(image, broken, samples=8, seed=0)
    assert np.array_equal(np.asarray(image), before)


def test_a_large_photo_is_perturbed_on_a_small_copy_and_mapped_at_its_own_shape():
    from explain.faithfulness import WORK_SIDE

    seen = []

    def score(images):
        seen.extend(im.size for im in images)
        return red_share(images)

    m = perturbation_map(scene((3500, 3500)), score, samples=32, imputer=mean_imputer, seed=0)
    assert {s for s in seen} == {(WORK_SIDE, WORK_SIDE)}
    assert m.values.shape == (512, 512)
    effects = m.extras["effects"]
    assert np.unravel_index(np.argmax(effects), effects.shape) == (1, 5)  # still the red square
