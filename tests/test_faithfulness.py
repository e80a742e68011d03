"""Faithfulness on a scorer with a known answer: only the red square counts."""
import numpy as np
from PIL import Image

from explain.faithfulness import MIN_SPAN, curves, mean_imputer, patch_order, text_deletion


def red_share(images):
    """Score = share of strongly red pixels: the known answer is 'the red square'."""
    out = []
    for im in images:
        a = np.asarray(im, np.int32)
        out.append(((a[..., 0] > 150) & (a[..., 1] < 80)).mean())
    return np.array(out)


def scene():
    a = np.full((64, 64, 3), 230, np.uint8)
    a[8:24, 40:56] = (220, 20, 20)  # the red square, top right
    a[40:60, 4:30] = (20, 20, 200)  # a blue distractor
    return Image.fromarray(a)


def test_true_region_beats_random_and_a_wrong_map():
    image = scene()
    before = np.asarray(image).copy()
    truth = np.zeros((64, 64))
    truth[8:24, 40:56] = 1.0
    wrong = 1.0 - truth  # ranks the red square last
    good = curves(image, truth, red_share, grid=8, steps=16, imputer=mean_imputer, orders=16)
    bad = curves(image, wrong, red_share, grid=8, steps=16, imputer=mean_imputer, orders=16)
    assert len(good.fractions) == 17 and good.fractions[0] == 0 and good.fractions[-1] == 1
    assert good.deletion[0] > 0 and good.deletion[-1] == 0  # intact, then fully imputed
    assert good.deletion_auc < 0.5 * good.random_deletion_auc
    assert good.insertion_auc > good.random_insertion_auc
    assert good.beats_random and good.faithfulness > 0.4  # the ideal map scores ~0.47 against random's mean
    assert bad.faithfulness < 0 < good.faithfulness and not bad.beats_random
    assert np.array_equal(np.asarray(image), before)


def test_a_score_the_photo_barely_moves_is_not_measurable():
    image = scene()
    truth = np.zeros((64, 64))
    truth[8:24, 40:56] = 1.0
    # Blurring everything moves this score by 0.006: a ratio of such differences would be noise.
    tiny = curves(image, truth, lambda ims: red_share(ims) * 0.1 + 0.5, grid=8, steps=16, imputer=mean_imputer)
    assert 0 < tiny.span < MIN_SPAN and not tiny.measurable
    assert np.isnan(tiny.faithfulness) and np.isnan(tiny.deletion_auc_normalised)
    same = curves(image, truth, lambda ims: red_share(ims) * 0.5 + 0.5, grid=8, steps=16, imputer=mean_imputer)
    assert same.span > MIN_SPAN and same.measurable and same.faithfulness > 0.4


def test_normalised_areas_remove_the_floor_of_a_similarity_score():
    image = scene()
    truth = np.zeros((64, 64))
    truth[8:24, 40:56] = 1.0
    raw = curves(image, truth, red_share, grid=8, steps=16, imputer=mean_imputer)
    offset = curves(image, truth, lambda ims: red_share(ims) * 0.5 + 0.4, grid=8, steps=16, imputer=mean_imputer)
    # An affine change of the score (a floor of 0.4) changes the raw areas but not the normalised ones.
    assert offset.deletion_auc > raw.deletion_auc
    assert np.isclose(offset.deletion_auc_normalised, raw.deletion_auc_normalised)
    assert np.isclose(offset.random_deletion_auc_normalised, raw.random_deletion_auc_normalised)
    assert offset.deletion_auc_normalised < 0.5 * offset.random_deletion_auc_normalised
    assert 0 <= raw.deletion_auc_normalised < raw.insertion_auc_normalised <= 1
    flat = curves(image, truth, lambda ims: np.full(len(ims), 0.7), grid=8, steps=16, imputer=mean_imputer)
    assert np.isnan(flat.deletion_auc_normalised)


def test_patch_order_and_determinism():
    h = np.zeros((4, 4))
    h[0, 3] = 5
    h[3, 0] = 1
    assert list(patch_order(h, 4)[:2]) == [3, 12]
    a = curves(scene(), np.random.default_rng(0).random((8, 8)), red_share, grid=8, seed=3)
    b = curves(scene(), np.random.default_rng(0).random((8, 8)), red_share, grid=8, seed=3)
    assert np.array_equal(a.random_deletion, b.random_deletion)


def test_text_deletion_of_the_deciding_word():
    words = ["navy", "shirt", "with", "red", "collar"]

    def says_red(texts):
        return np.array([1.0 if "red" in t.split() else 0.2 for t in texts])

    res = text_deletion(words, np.array([0.1, 0.2, 0.0, 0.9, 0.3]), says_red, k=1)
    assert res["top_drop"] == 0.8 and res["beats_random"]
    assert text_deletion([], np.array([]), says_red)["k"] == 0


def test_a_shared_random_reference_gives_the_same_curves():
    from explain.faithfulness import random_reference

    image, heat = scene(), np.random.default_rng(2).random((8, 8))
    ref = random_reference(image, red_share, grid=8, steps=16, imputer=mean_imputer, seed=5)
    a = curves(image, heat, red_share, grid=8, imputer=mean_imputer, seed=5)
    b = curves(image, heat, red_share, grid=8, imputer=mean_imputer, reference=ref)
    for name in ("deletion", "insertion", "random_deletion", "random_insertion"):
        assert np.array_equal(getattr(a, name), getattr(b, name))


def test_random_reference_averages_orders_drawn_from_the_photo():
    from explain.faithfulness import image_seed, random_reference

    image = scene()
    start = red_share([image])[0]
    # Hard-edged patches (feather 0): the thresholded red share counts exactly the pixels left.
    one = random_reference(image, red_share, grid=8, steps=16, imputer=mean_imputer, seed=1, feather=0)
    many = random_reference(image, red_share, grid=8, steps=16, imputer=mean_imputer, seed=1, orders=64, feather=0)
    # Removing k random patches of 64 removes k/64 of the red square on average: a straight line.
    expected = start * (1 - np.linspace(0, 1, 17))
    assert np.abs(many.deletion - expected).max() < 0.1 * start
    assert np.abs(many.deletion - expected).max() < np.abs(one.deletion - expected).max()
    assert np.abs(many.insertion - (start - expected)).max() < 0.1 * start
    # No seed: the photo's own pixels seed the orders (the same photo, the same reference; another, other orders).
    a = random_reference(image, red_share, grid=8, steps=16, imputer=mean_imputer, orders=2)
    b = random_reference(scene(), red_share, grid=8, steps=16, imputer=mean_imputer, orders=2)
    assert np.array_equal(a.deletion, b.deletion)
    other = np.asarray(scene()).copy()
    other[0, 0] = (0, 0, 0)
    assert image_seed(Image.fromarray(other)) != image_seed(image)
    assert np.array_equal(a.deletion, random_reference(image, red_share, grid=8, steps=16, imputer=mean_imputer,
                                                       seed=image_seed(image), orders=2).deletion)
    try:
        random_reference(image, red_share, grid=8, orders=0)
    except ValueError:
        pass
    else:
        raise AssertionError("zero orders accepted")


def test_curves_of_several_maps_in_one_batch_equal_the_curves_one_by_one():
    from explain.faithfulness import curves_of_maps, random_reference

    image = scene()
    maps = {"truth": np.pad(np.ones((16, 16)), ((8, 40), (40, 8))), "noise": np.random.default_rng(4).random((8, 8))}
    calls = []

    def counted(images):
        calls.append(len(images))
        return red_share(images)

    together = curves_of_maps(image, maps, counted, grid=8, steps=16, imputer=mean_imputer, orders=3)
    # Intact + imputed once, 15 inner steps a curve, both curves for a map and one for a random order.
    assert len(calls) == 1 and calls[0] == 2 + 2 * 2 * 15 + 3 * 15
    ref = random_reference(image, red_share, grid=8, steps=16, imputer=mean_imputer, orders=3)
    for name, heat in maps.items():
        alone = curves(image, heat, red_share, grid=8, steps=16, imputer=mean_imputer, reference=ref)
        for part in ("fractions", "deletion", "insertion", "random_deletion", "random_insertion"):
            assert np.array_equal(getattr(together[name], part), getattr(alone, part)), (name, part)
    assert together["truth"].faithfulness > together["noise"].faithfulness


def test_a_random_orders_insertion_curve_is_its_deletion_curve_read_backwards():
    from explain.faithfulness import _curves_of_orders, _random_orders, composite_patches

    image = scene()
    orders = _random_orders(image, 8, 5, 3)
    counts = np.array([0, 5, 13, 20, 31, 40, 64])  # not symmetric: 64 - 5 is not a count
    assert not np.array_equal(64 - counts[::-1], counts)
    deletion, insertion = _curves_of_orders(image, mean_imputer, orders, counts, 8, red_share, randoms=3)
    for order, d, i in zip(orders, deletion, insertion):
        assert np.array_equal(d[1:-1], red_share([composite_patches(np.asarray(image), np.asarray(mean_imputer(image)),
                                                                    order[:k], 8) for k in counts[1:-1]]))
        # Revealing k patches leaves 64 - k removed: the same order's deletion composite with 64 - k removed.
        assert np.array_equal(i[1:-1], red_share([composite_patches(np.asarray(image), np.asarray(mean_imputer(image)),
                                                                    order[:64 - k], 8) for k in counts[1:-1]]))
    # Revealing a random set of patches removes the complementary random set: the same curve on average.
    many = _random_orders(image, 8, 6, 200)
    d, i = _curves_of_orders(image, mean_imputer, many, counts, 8, red_share, feather=0, randoms=200)
    start = red_share([image])[0]
    assert np.abs(i.mean(0) - start * counts / 64).max() < 0.05 * start
    assert np.abs(d.mean(0) - start * (1 - counts / 64)).max() < 0.05 * start
    # With softened borders, revealing a set and removing its complement give the same image.
    full, empty = np.asarray(image), np.asarray(mean_imputer(image))
    s = np.arange(0, 64, 3)
    reveal = np.asarray(composite_patches(empty, full, s, 8))
    remove = np.asarray(composite_patches(full, empty, np.setdiff1d(np.arange(64), s), 8))
    assert np.abs(reveal.astype(int) - remove.astype(int)).max() <= 1


def redness(images):
    """A score linear in the pixels (red minus green over the red square): blending moves it in proportion."""
    return np.array([(np.asarray(im, np.float64)[8:24, 40:56, 0] - np.asarray(im, np.float64)[8:24, 40:56, 1]).mean()
                     for im in images]) / 255


def test_feathered_removal_softens_patch_borders_and_removes_as_much_on_average():
    from explain.faithfulness import FEATHER, composite_patches, random_reference

    assert FEATHER > 0  # the application's curves soften the borders
    black, white = np.zeros((64, 64, 3), np.uint8), np.full((64, 64, 3), 255, np.uint8)
    assert np.array_equal(composite_patches(black, white, np.array([], int), 8), black)
    assert np.array_equal(composite_patches(black, white, np.arange(64), 8), white)
    hard = np.asarray(composite_patches(black, white, np.array([27]), 8, feather=0))
    soft = np.asarray(composite_patches(black, white, np.array([27]), 8))
    # One patch of 64: as much is blended in as the patch holds, but without a cut edge around it.
    assert hard.mean() == 255 / 64 and abs(soft.mean() - 255 / 64) < 0.02 * 255 / 64
    def jump(a):
        return max(np.abs(np.diff(a[..., 0].astype(int), axis=0)).max(),
                   np.abs(np.diff(a[..., 0].astype(int), axis=1)).max())

    assert jump(hard) == 255 and jump(soft) < 0.25 * 255
    assert soft[24, 24, 0] > 0 and soft[0, 0, 0] == 0  # the border softened, far pixels untouched
    # Random orders still remove k/64 of the photo on average: a linear score falls in a straight line,
    # and the same orders with cut edges give the same curve.
    image = scene()
    start, end = redness([image])[0], redness([mean_imputer(image)])[0]
    soft = random_reference(image, redness, grid=8, steps=16, imputer=mean_imputer, seed=1, orders=64)
    hard = random_reference(image, redness, grid=8, steps=16, imputer=mean_imputer, seed=1, orders=64, feather=0)
    expected = end + (start - end) * (1 - np.linspace(0, 1, 17))
    assert np.abs(soft.deletion - expected).max() < 0.1 * (start - end)
    assert np.abs(soft.deletion - hard.deletion).max() < 0.02 * (start - end)


def test_a_large_photo_is_scored_on_a_copy_of_at_most_work_side():
    """A 12-megapixel photo made one explanation hold 8.6 GB: the composites are built at most
    WORK_SIDE pixels a side, and the curves are those of the photo at that size."""
    from explain.faithfulness import WORK_SIDE, curves_of_maps

    big = scene().resize((2400, 1800), Image.NEAREST)  # the red square, 12 x larger, on a 4:3 photo
    seen = []

    def score(images):
        seen.extend(im.size for im in images)
        return red_share(images)

    truth = np.zeros((64, 64))
    truth[8:24, 40:56] = 1.0
    out = curves_of_maps(big, {"truth": truth}, score, grid=8, imputer=mean_imputer, orders=4)["truth"]
    assert {max(s) for s in seen} == {WORK_SIDE} and {s[0] * 3 == s[1] * 4 for s in seen} == {True}
    small = curves_of_maps(scene().resize((WORK_SIDE, WORK_SIDE * 3 // 4), Image.NEAREST), {"truth": truth},
                           red_share, grid=8, imputer=mean_imputer, orders=4)["truth"]
    assert abs(out.faithfulness - small.faithfulness) < 0.02 and out.faithfulness > 0.4
    assert np.asarray(big).shape == (1800, 2400, 3)  # the caller's photo is left as it was


def test_a_photo_under_the_grid_gives_no_warning_and_is_not_measurable():
    import warnings

    tiny = Image.new("RGB", (10, 5), (220, 20, 20))  # some of the 14 x 14 patches hold no pixel
    heatmap = np.arange(50, dtype=np.float32).reshape(5, 10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Mean of empty slice" for each empty patch
        order = patch_order(heatmap, 14)
        c = curves(tiny, heatmap, red_share, grid=14, steps=16, imputer=mean_imputer)
    assert sorted(order) == list(range(196)) and not c.measurable
    assert set(order[:50]) == {r * 14 + col for r in range(5) for col in range(10)}  # the empty patches last


def test_the_words_beside_the_score_follow_its_sign_and_curves_swinging_past_the_range_are_not_measurable():
    from explain.faithfulness import Curves

    x = np.linspace(0, 1, 5)
    # deletion slightly below random, insertion far below it: deletion alone "beats" random, the score is negative
    c = Curves(x, np.array([1.0, 0.8, 0.6, 0.4, 0.2]), np.array([0.2, 0.2, 0.2, 0.3, 1.0]),
               np.array([1.0, 0.85, 0.65, 0.45, 0.2]), np.array([0.2, 0.45, 0.65, 0.85, 1.0]))
    assert c.measurable and c.beats_random and c.faithfulness < 0 and not c.better_than_random
    good = Curves(x, np.array([1.0, 0.3, 0.2, 0.2, 0.2]), np.array([0.2, 0.9, 1.0, 1.0, 1.0]),
                  np.array([1.0, 0.8, 0.6, 0.4, 0.2]), np.array([0.2, 0.4, 0.6, 0.8, 1.0]))
    assert good.better_than_random and 0 < good.faithfulness < 1
    assert (c.versus_random, good.versus_random) == ("worse than random", "beats random")
    near = Curves(x, c.deletion, np.array([0.2, 0.4, 0.6, 0.8, 1.0]), c.random_deletion,
                  np.array([0.2, 0.4, 0.6, 0.8, 1.0]))  # deletion a bit below random's, insertion the same
    assert 0 < near.faithfulness < 0.05 and not near.better_than_random
    assert near.versus_random == "about as good as random"
    shown = Curves(x, c.deletion, np.array([0.2, 0.5674, 0.6, 0.8, 1.0]), c.random_deletion, near.random_insertion)
    assert f"{shown.faithfulness:+.2f}" == "+0.05" and shown.faithfulness < 0.05  # the label follows the figure shown
    assert shown.versus_random == "beats random"
    # a range of 0.03 (past MIN_SPAN) with curves swinging 0.2 around it: it was clipped to a "perfect" +1.00
    noisy = Curves(x, np.array([0.50, 0.35, 0.40, 0.45, 0.47]), np.array([0.47, 0.65, 0.70, 0.66, 0.50]),
                   np.array([0.50, 0.52, 0.55, 0.50, 0.47]), np.array([0.47, 0.50, 0.55, 0.52, 0.50]))
    assert abs(noisy.span) >= MIN_SPAN and noisy.span_measurable
    assert not noisy.measurable and np.isnan(noisy.faithfulness) and not noisy.better_than_random
    assert noisy.versus_random == ""
    assert np.isnan(noisy.deletion_auc_normalised)
