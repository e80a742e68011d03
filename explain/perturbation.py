"""Perturbation map: how much each region of the photo holds up the explained score, measured by
removing random sets of regions and fitting the score to what was removed.

The photo is split into ``grid`` x ``grid`` regions. Each sample blurs a random set of them (the
same imputer and softened borders as the faithfulness curves, ``explain.faithfulness``), and the
model scores the result; a ridge regression of the scores on the removed-region indicators gives
each region's average effect on the score, over many contexts. This is LIME's surrogate (Ribeiro
et al. 2016) with KernelSHAP's paired sampling (Lundberg & Lee 2017: every mask is followed by its
complement, which cancels much of the sampling noise): a region's relevance is how much the score
falls, on average, when it is blurred.

Why not captum's ``Lime`` / ``KernelShap``: they switch features on and off with hard-edged
masks on a tensor, and hard-edged blurred blocks make this model react to the cut edges as much
as to the removal (docs/BENCHMARKS.md); here the samples are built exactly as the curves build
their composites, on the photo itself.

Unlike the attention and Grad-CAM maps it needs no gradient and no access to the model's insides,
but it costs ``samples`` model passes (256 by default: seconds on 2 cores, not the 300 ms of the
other maps), and it measures what the deletion curves measure, so its faithfulness figures favour
it by construction (said beside them in docs/BENCHMARKS.md).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image

from explain.faithfulness import FEATHER, ScoreImages, blur_imputer, composite_patches, image_seed, working_copy
from explain.types import PERTURBATION, Explanation

METHOD = PERTURBATION
GRID = 7  # regions a side (each 2 x 2 of the curves' 14 x 14 patches)
SAMPLES = 256  # model passes; fewer is noisier (128 kept about a third of the gain over rollout on validation)
CHUNK = 64  # composites held in memory at once
MAX_SIDE = 512  # the map's longer side (it is resampled for overlays anyway)


def removal_masks(n_regions: int, samples: int, rng: np.random.Generator) -> np.ndarray:
    """(samples, n_regions) booleans, True = blurred: each random mask (1 to n_regions - 1 regions,
    a uniform count) followed by its complement."""
    if samples < 2 or samples % 2:
        raise ValueError(f"the number of samples must be even and at least 2, not {samples}")
    if n_regions < 2:
        raise ValueError("a perturbation map needs at least 2 regions")
    half = np.zeros((samples // 2, n_regions), bool)
    for row in half:
        row[rng.permutation(n_regions)[:rng.integers(1, n_regions)]] = True
    return np.concatenate([half, ~half])


def region_effects(masks: np.ndarray, scores: np.ndarray, ridge: float = 1e-2) -> tuple[np.ndarray, float]:
    """Ridge regression of ``scores`` on ``masks`` (with an intercept): each region's average drop of
    the score when it is removed (positive = the region holds the score up), and the fit's R^2."""
    x = np.c_[masks.astype(np.float64), np.ones(len(masks))]
    penalty = ridge * np.eye(x.shape[1])
    penalty[-1, -1] = 0.0  # the intercept is not shrunk
    coef = np.linalg.solve(x.T @ x + penalty, x.T @ np.asarray(scores, np.float64))
    residual = scores - x @ coef
    total = float(np.sum((scores - np.mean(scores)) ** 2))
    # A score the masks do not move (its spread only rounding) has nothing to explain: R^2 = 0.
    r2 = 1.0 - float(residual @ residual) / total if total > 1e-12 * len(scores) else 0.0
    return -coef[:-1], r2


def perturbation_map(image: Image.Image, score: ScoreImages, grid: int = GRID, samples: int = SAMPLES,
                     imputer: Callable[[Image.Image], Image.Image] = blur_imputer, seed: int | None = None,
                     feather: float = FEATHER, model_id: str = "",
                     target: str = "cosine similarity to the query") -> Explanation:
    """The perturbation map of ``score`` on ``image`` (values >= 0 over the photo, at most ``MAX_SIDE``
    cells a side). The masks are drawn from ``seed`` (None: a seed of the photo's own pixels, apart from
    the stream the curves' random orders come from). ``extras``: the signed effect of each region
    (``effects``, grid x grid), the fit's ``r2`` and the number of ``samples``."""
    work = working_copy(image)  # the composites' photo (see explain.faithfulness.WORK_SIDE)
    rng = np.random.default_rng([image_seed(work) if seed is None else seed, 1])
    masks = removal_masks(grid * grid, samples, rng)
    full, empty = np.asarray(work), np.asarray(imputer(work).convert("RGB"))
    scores = []
    for start in range(0, samples, CHUNK):
        batch = [composite_patches(full, empty, np.flatnonzero(m), grid, feather) for m in masks[start:start + CHUNK]]
        scores.append(np.asarray(score(batch), np.float64))
    effects, r2 = region_effects(masks, np.concatenate(scores))
    effects = effects.reshape(grid, grid)
    w, h = image.size
    scale = min(1.0, MAX_SIDE / max(w, h))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    values = np.asarray(Image.fromarray((effects - effects.min()).astype(np.float32)).resize(size, Image.BILINEAR),
                        np.float32)
    return Explanation(METHOD, model_id, target, np.maximum(values, 0.0),
                       extras={"effects": effects.astype(np.float32), "r2": r2, "samples": samples})
