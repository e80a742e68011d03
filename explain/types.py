"""What every explainer returns."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

PERTURBATION = "perturbation"  # the slow, model-agnostic heatmap
MATCH_MAP = "match map"  # region-to-region similarity, not a heatmap of one photo


def is_flat(lo: float, hi: float) -> bool:
    """A map from ``lo`` to ``hi`` draws nothing: no range, or one within float rounding of its values (a query
    photo that is the result's own: every cell's cosine to itself is 1 +- 1e-6, which the overlay stretched into a
    full-contrast speckle)."""
    return hi - lo < 1e-12 or hi - lo <= 1e-5 * max(abs(lo), abs(hi))


def counted_sides(has_photo: bool, has_text: bool, image_weight: float) -> tuple[bool, bool]:
    """(the photo counts, the words count) in a query the search weighs so (``image_weight``: the photo's): a side
    weighed 0 beside the other is not part of the query, and neither its maps, its words nor the facts tell of it."""
    return (has_photo and not (has_text and image_weight <= 0.0),
            has_text and not (has_photo and image_weight >= 1.0))


@dataclass(frozen=True)
class Explanation:
    """A relevance map over an image (rows x cols grid, values >= 0) or over text tokens.

    The single explainers (attention, Grad-CAM, match map) give maps over the model's input, the
    photo square-padded (``core.encoders``); ``MatchExplainer`` passes them through ``photo_frame``,
    so the maps it returns cover the photo as given and overlays and feature removal hit the
    right pixels.

    ``method`` names the algorithm, ``model_id`` the weights it explained, ``target`` what score
    was explained (e.g. "cosine similarity to the query"). ``tokens`` is set for text.
    """

    method: str
    model_id: str
    target: str
    values: np.ndarray
    tokens: tuple[str, ...] = ()
    extras: dict = field(default_factory=dict)

    def normalised(self) -> np.ndarray:
        """Values scaled to [0, 1] (all zeros stay zeros)."""
        v = np.asarray(self.values, dtype=np.float32)
        lo, hi = float(v.min()), float(v.max())
        return np.zeros_like(v) if is_flat(lo, hi) else (v - lo) / (hi - lo)


def photo_frame(values: np.ndarray, size: tuple[int, int], max_side: int = 512) -> np.ndarray:
    """A map over the model's square-padded input -> the same map over the photo alone.

    ``size`` is the photo's (width, height); ``core.encoders.square_pad`` centres it on a square of
    its longer side. A square photo's map is returned as is; otherwise the map is resampled
    (bilinear) onto that square, at most ``max_side`` cells a side, and the padding cut off.
    """
    from PIL import Image

    v = np.asarray(values, np.float32)
    w, h = size
    if w == h or v.ndim != 2:
        return v
    side = max(w, h)
    t = min(side, max_side)
    big = np.asarray(Image.fromarray(v).resize((t, t), Image.BILINEAR), np.float32)
    left, top = (side - w) // 2 * t / side, (side - h) // 2 * t / side
    cw, ch = max(1, round(w * t / side)), max(1, round(h * t / side))
    left, top = min(round(left), t - cw), min(round(top), t - ch)
    return big[top:top + ch, left:left + cw].copy()
