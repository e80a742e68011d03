"""How faithful an explanation is, measured by removing features (Petsiuk et al. 2018, RISE).

Deletion: replace the most relevant patches first with an imputed version (blurred, or the mean
colour) and follow the explained score; a faithful map makes it fall fast (small area under the
curve). Insertion: start from the fully imputed image and reveal the most relevant patches
first; a faithful map makes the score rise fast (large area). The same curves for random patch
orders are the reference (their mean curves, the orders drawn from a seed of the photo's own
pixels). A random order's insertion curve is its deletion curve read backwards (revealing k random
patches is removing n - k random ones, ``_curves_of_orders``), so the reference costs one curve per
order and its deletion and insertion areas are equal. All steps of a curve go through the model
as one batch.

Removed patches are blended in through a mask softened by a Gaussian of ``FEATHER`` patch sides
(a quarter of a patch: the patches and their order stay as they were, only their borders are no
longer cut edges). With hard edges, a random order scatters up to 196 sharp-edged blurred blocks
over the garment, and the model reacts to the grid of cut edges as much as to what was removed:
on H&M photos half of the random curves dipped more than 5 % of the score's range *below* the
fully blurred photo, which removal alone cannot do (docs/BENCHMARKS.md). Petsiuk et al.'s RISE
masks are smooth for the same reason.

A similarity score does not fall to zero when the whole photo is imputed (two blurred garments
still look alike), so raw areas carry a floor that no patch order can remove. The normalised
areas rescale every curve of one image so that the intact photo scores 1 and the fully imputed
one 0, which is what a class probability does by itself in Petsiuk et al.'s setting.

``faithfulness`` folds both into one number: the mean of (random AUC - deletion AUC) and
(insertion AUC - random AUC), divided by the score's full range (intact minus fully imputed).
0 means no better than random, positive better, 1 is the ideal. (The reference's two areas being
equal, this is (insertion AUC - deletion AUC) / (2 x range), which random orders score 0 on
average; the reference itself decides ``beats_random``, deletion alone.) When blurring the whole photo
moves the score by less than ``MIN_SPAN`` the photo barely matters to this match and no map can
be judged by removing parts of it, and when removing parts gains more than the whole range the range
is noise next to the curves: the score and the normalised areas are then NaN ("not measurable"),
instead of a noise ratio blown up to +-1.

The composites are built on a copy of the photo at most ``WORK_SIDE`` pixels a side
(``working_copy``): the encoders square-pad every photo and shrink it to 224 pixels anyway, and at
full size a 12-megapixel product photo made one explanation hold 8.6 GB and take a minute.
"""
from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageFilter

from core.images import fit_within

ScoreImages = Callable[[list[Image.Image]], np.ndarray]  # images -> explained score per image
MIN_SPAN = 0.02  # smallest score change (intact photo vs fully imputed) a faithfulness is measured on
FEATHER = 0.25  # Gaussian sigma of the removal mask's borders, in patch sides (0: hard-edged patches)
# A faithfulness within this of 0 is told as "about as good as random": the reference is the mean of a couple of random
# orders, and the benchmarks' maps score 0.14 to 0.29 on average (docs/BENCHMARKS.md, "Faithfulness").
NEAR_RANDOM = 0.05
WORK_SIDE = 448  # longer side of the photo the composites are built on: twice what the encoders see


def working_copy(image: Image.Image) -> Image.Image:
    """The photo the composites are built on: RGB, at most ``WORK_SIDE`` pixels a side."""
    return fit_within(image, WORK_SIDE)


@dataclass(frozen=True)
class Curves:
    fractions: np.ndarray  # share of patches removed (deletion) or revealed (insertion)
    deletion: np.ndarray
    insertion: np.ndarray
    random_deletion: np.ndarray
    random_insertion: np.ndarray

    @staticmethod
    def auc(y: np.ndarray, x: np.ndarray) -> float:
        return float(np.trapezoid(y, x))

    @property
    def deletion_auc(self) -> float:
        return self.auc(self.deletion, self.fractions)

    @property
    def insertion_auc(self) -> float:
        return self.auc(self.insertion, self.fractions)

    @property
    def random_deletion_auc(self) -> float:
        return self.auc(self.random_deletion, self.fractions)

    @property
    def random_insertion_auc(self) -> float:
        return self.auc(self.random_insertion, self.fractions)

    @property
    def span(self) -> float:
        """The explained score of the intact photo minus that of the fully imputed one."""
        return float(self.deletion[0] - self.deletion[-1])

    @property
    def measurable(self) -> bool:
        """The whole photo moves the score by ``MIN_SPAN`` at least, and no more than its parts do: removing or
        revealing parts never gains more than the score's whole range (a ratio past +-1 was clipped and shown as
        a perfect +1.00, when curves swinging 0.2 around a range of 0.03 only said the range is noise)."""
        return self.span_measurable and abs(self._gain()) <= abs(self.span) * (1 + 1e-6)

    @property
    def span_measurable(self) -> bool:
        return abs(self.span) >= MIN_SPAN

    def _gain(self) -> float:
        return 0.5 * ((self.random_deletion_auc - self.deletion_auc) + (self.insertion_auc - self.random_insertion_auc))

    def _normalised_auc(self, y: np.ndarray) -> float:
        if not self.measurable:
            return float("nan")  # imputing the photo barely changes its score: nothing to explain
        empty = float(self.deletion[-1])
        return self.auc((np.asarray(y) - empty) / self.span, self.fractions)

    @property
    def deletion_auc_normalised(self) -> float:
        return self._normalised_auc(self.deletion)

    @property
    def random_deletion_auc_normalised(self) -> float:
        return self._normalised_auc(self.random_deletion)

    @property
    def insertion_auc_normalised(self) -> float:
        return self._normalised_auc(self.insertion)

    @property
    def random_insertion_auc_normalised(self) -> float:
        return self._normalised_auc(self.random_insertion)

    @property
    def faithfulness(self) -> float:
        """In [-1, 1]; NaN when not ``measurable``."""
        if not self.measurable:
            return float("nan")
        return float(np.clip(self._gain() / abs(self.span), -1.0, 1.0))  # past +-1 by rounding only

    @property
    def beats_random(self) -> bool:
        """Deletion alone beats the random orders (the benchmarks' "share beating random")."""
        return self.deletion_auc < self.random_deletion_auc

    @property
    def better_than_random(self) -> bool:
        """The map beats random orders by its score's sign and by ``NEAR_RANDOM`` at least (deletion alone said
        "-0.29 (beats random)", read as a contradiction; "+0.03 (beats random)" claimed what two random orders'
        noise covers)."""
        return self.measurable and round(self.faithfulness, 2) >= NEAR_RANDOM  # as shown: "+0.05" beats it

    @property
    def versus_random(self) -> str:
        """What the window and the reports say beside ``faithfulness`` ("" when it is not measurable)."""
        if not self.measurable:
            return ""
        return ("beats random" if self.better_than_random else "worse than random"
                if round(self.faithfulness, 2) <= -NEAR_RANDOM else "about as good as random")

    def to_dict(self) -> dict:
        return {"deletion_auc": self.deletion_auc, "insertion_auc": self.insertion_auc,
                "random_deletion_auc": self.random_deletion_auc, "random_insertion_auc": self.random_insertion_auc,
                "deletion_auc_normalised": self.deletion_auc_normalised,
                "random_deletion_auc_normalised": self.random_deletion_auc_normalised,
                "insertion_auc_normalised": self.insertion_auc_normalised,
                "random_insertion_auc_normalised": self.random_insertion_auc_normalised,
                "faithfulness": self.faithfulness, "beats_random": self.beats_random,
                "span": self.span, "measurable": self.measurable}


def blur_imputer(image: Image.Image) -> Image.Image:
    return image.filter(ImageFilter.GaussianBlur(radius=max(image.size) / 16))


def mean_imputer(image: Image.Image) -> Image.Image:
    mean = tuple(int(c) for c in np.asarray(image, np.float32).reshape(-1, 3).mean(axis=0))
    return Image.new("RGB", image.size, mean)


def patch_order(heatmap: np.ndarray, grid: int) -> np.ndarray:
    """Patch indices (row-major on a grid x grid split) from most to least relevant. A map under ``grid``
    cells a side (that of a photo under ``grid`` pixels) leaves some patches empty: they come last."""
    h = np.asarray(heatmap, np.float32)
    rows = np.array_split(np.arange(h.shape[0]), grid)
    cols = np.array_split(np.arange(h.shape[1]), grid)
    means = np.array([[h[np.ix_(r, c)].mean() if len(r) and len(c) else -np.inf for c in cols]
                      for r in rows]).ravel()
    return np.argsort(-means, kind="stable")


def composite_patches(base: np.ndarray, other: np.ndarray, patches: np.ndarray, grid: int,
                      feather: float = FEATHER) -> Image.Image:
    """``base`` with ``other`` in the given patches, their borders softened by a Gaussian of
    ``feather`` patch sides (0: cut edges). No patch gives ``base``, every patch ``other``, exactly."""
    if feather <= 0:
        out = base.copy()
        rows = np.array_split(np.arange(base.shape[0]), grid)
        cols = np.array_split(np.arange(base.shape[1]), grid)
        for p in patches:
            r, c = rows[p // grid], cols[p % grid]
            out[r[0]:r[-1] + 1, c[0]:c[-1] + 1] = other[r[0]:r[-1] + 1, c[0]:c[-1] + 1]
        return Image.fromarray(out)
    # The mask is piecewise constant on the patch grid and a Gaussian is separable, so the blurred mask
    # is (blurred row bands) @ (chosen patches) @ (blurred column bands)^T: a few small products
    # instead of a 2-D filter per composite (what gaussian_filter on the full mask gives, to rounding).
    chosen = np.zeros((grid, grid), np.float32)
    chosen.flat[np.asarray(patches, int)] = 1.0
    rows, cols = _soft_bands(base.shape[0], base.shape[1], grid, feather)
    mask = np.rint(np.clip(rows @ chosen @ cols.T, 0.0, 1.0) * 255).astype(np.uint8)
    return Image.composite(Image.fromarray(other), Image.fromarray(base), Image.fromarray(mask, "L"))


@lru_cache(maxsize=32)
def _soft_bands(height: int, width: int, grid: int, feather: float) -> tuple[np.ndarray, np.ndarray]:
    """(height x grid, width x grid): each patch row's / column's indicator blurred along its axis by a
    Gaussian of ``feather`` patch sides (the longer patch side)."""
    from scipy.ndimage import gaussian_filter1d

    sigma = feather * max(height, width) / grid
    out = []
    for n in (height, width):
        bands = np.zeros((n, grid), np.float32)
        for i, idx in enumerate(np.array_split(np.arange(n), grid)):
            bands[idx, i] = 1.0
        out.append(gaussian_filter1d(bands, sigma, axis=0, mode="nearest", truncate=3.0))
    return out[0], out[1]


@dataclass(frozen=True)
class RandomReference:
    """The random-order curves of one image, shared by every explanation of that image: the mean
    curves of ``orders`` random patch orders (one order is a noisy estimate of "random")."""

    deletion: np.ndarray
    insertion: np.ndarray


def _counts(grid: int, steps: int) -> np.ndarray:
    return np.unique(np.linspace(0, grid * grid, steps + 1).round().astype(int))


def _curves_of_orders(image: Image.Image, imputer, orders: list[np.ndarray], counts: np.ndarray, grid: int,
                      score: ScoreImages, feather: float = FEATHER, randoms: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(deletion, insertion) scores, one row per patch order, in one batch. Every curve starts or
    ends at the intact and the fully imputed photo, so those two go through the model once.

    The last ``randoms`` orders are random: only their deletion composites are scored, and their
    insertion curve is read off the same scores. Revealing the first k patches of a random order
    leaves the other n - k removed, and they are a uniformly random set of n - k patches, just as
    the first n - k of a random order are; so E[insertion at k] = E[deletion at n - k] exactly, and
    with softened borders the two composites are the same image (the blurred mask of a set is 1
    minus that of its complement). Half the model passes of a reference for the same number of orders."""
    n = grid * grid
    full = np.asarray(image)
    empty = np.asarray(imputer(image).convert("RGB"))
    inner = counts[1:-1]  # counts run from 0 to every patch
    removed = np.union1d(inner, n - inner)  # what a random order's curves need (the same counts when symmetric)
    explained, random_orders = orders[:len(orders) - randoms], orders[len(orders) - randoms:]
    batch = [image, Image.fromarray(empty)]
    for order in explained:
        batch += [composite_patches(full, empty, order[:k], grid, feather) for k in inner]
        batch += [composite_patches(empty, full, order[:k], grid, feather) for k in inner]
    for order in random_orders:
        batch += [composite_patches(full, empty, order[:k], grid, feather) for k in removed]
    scores = np.asarray(score(batch), np.float64)
    s_full, s_empty, m = scores[0], scores[1], len(inner)
    split = 2 + 2 * m * len(explained)
    rows = scores[2:split].reshape(len(explained), 2, m)
    randoms_removed = scores[split:].reshape(len(random_orders), len(removed))  # columns: ``removed`` (sorted)
    deletion = np.concatenate([rows[:, 0], randoms_removed[:, np.searchsorted(removed, inner)]])
    insertion = np.concatenate([rows[:, 1], randoms_removed[:, np.searchsorted(removed, n - inner)]])
    ends = len(orders), 1
    deletion = np.concatenate([np.full(ends, s_full), deletion, np.full(ends, s_empty)], 1)
    insertion = np.concatenate([np.full(ends, s_empty), insertion, np.full(ends, s_full)], 1)
    return deletion, insertion


def image_seed(image: Image.Image) -> int:
    """A seed of the image's own pixels: the same photo always gets the same random orders, and
    different photos get different ones (one fixed order for every photo would bias the mean)."""
    rgb = image.convert("RGB")
    return zlib.crc32(rgb.tobytes(), zlib.crc32(repr(rgb.size).encode()))


def _random_orders(image: Image.Image, grid: int, seed: int | None, orders: int) -> list[np.ndarray]:
    if orders < 1:
        raise ValueError("a random reference needs at least one order")
    rng = np.random.default_rng(image_seed(image) if seed is None else seed)
    return [rng.permutation(grid * grid) for _ in range(orders)]


def random_reference(image: Image.Image, score: ScoreImages, grid: int = 14, steps: int = 16,
                     imputer: Callable[[Image.Image], Image.Image] = blur_imputer, seed: int | None = None,
                     orders: int = 1, feather: float = FEATHER) -> RandomReference:
    """The mean curves of ``orders`` random patch orders, drawn from ``seed`` (None: ``image_seed``)."""
    image = working_copy(image)
    counts = _counts(grid, steps)
    deletion, insertion = _curves_of_orders(image, imputer, _random_orders(image, grid, seed, orders), counts, grid,
                                            score, feather, randoms=orders)
    return RandomReference(deletion.mean(axis=0), insertion.mean(axis=0))


def curves(image: Image.Image, heatmap: np.ndarray, score: ScoreImages, grid: int = 14, steps: int = 16,
           imputer: Callable[[Image.Image], Image.Image] = blur_imputer, seed: int | None = None,
           reference: RandomReference | None = None, orders: int = 1, feather: float = FEATHER) -> Curves:
    """Deletion and insertion curves of ``heatmap`` on ``image``, against the mean of ``orders``
    seeded random orders (computed here, or the ``reference`` already computed for this image,
    score and settings)."""
    image = working_copy(image)
    counts = _counts(grid, steps)
    deletion, insertion = _curves_of_orders(image, imputer, [patch_order(heatmap, grid)], counts, grid, score, feather)
    deletion, insertion = deletion[0], insertion[0]
    ref = reference or random_reference(image, score, grid, steps, imputer, seed, orders, feather)
    return Curves(counts / (grid * grid), deletion, insertion, ref.deletion, ref.insertion)


def curves_of_maps(image: Image.Image, heatmaps: dict[str, np.ndarray], score: ScoreImages, grid: int = 14,
                   steps: int = 16, imputer: Callable[[Image.Image], Image.Image] = blur_imputer,
                   seed: int | None = None, orders: int = 1, feather: float = FEATHER) -> dict[str, Curves]:
    """``curves`` of several maps of one image against one shared random reference, all in one batch
    (the imputed photo, the intact and fully imputed scores and the random orders computed once)."""
    image = working_copy(image)
    counts = _counts(grid, steps)
    randoms = _random_orders(image, grid, seed, orders)
    names = list(heatmaps)
    deletion, insertion = _curves_of_orders(image, imputer, [patch_order(heatmaps[n], grid) for n in names] + randoms,
                                            counts, grid, score, feather, randoms=len(randoms))
    r_del, r_ins = deletion[len(names):].mean(axis=0), insertion[len(names):].mean(axis=0)
    return {n: Curves(counts / (grid * grid), deletion[k], insertion[k], r_del, r_ins) for k, n in enumerate(names)}


def text_deletion(words: list[str], attributions: np.ndarray, score_text: Callable[[list[str]], np.ndarray],
                  k: int = 2, seed: int = 0, trials: int = 8) -> dict:
    """Similarity drop when the top-k attributed words are deleted, against deleting k random words."""
    k = min(k, len(words))
    if k == 0:
        return {"top_drop": 0.0, "random_drop": 0.0, "beats_random": False, "k": 0}
    top = set(np.argsort(-np.asarray(attributions))[:k].tolist())
    rng = np.random.default_rng(seed)
    randoms = [set(rng.choice(len(words), k, replace=False).tolist()) for _ in range(trials)]
    texts = [" ".join(words)] + [" ".join(w for j, w in enumerate(words) if j not in drop) for drop in [top, *randoms]]
    s = np.asarray(score_text(texts), np.float64)
    top_drop, random_drop = s[0] - s[1], float(np.mean(s[0] - s[2:]))
    return {"top_drop": float(top_drop), "random_drop": random_drop, "beats_random": bool(top_drop > random_drop),
            "k": k}
