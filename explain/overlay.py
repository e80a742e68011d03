"""Turning explanations into pictures: the one function the GUI and the reports share."""
from __future__ import annotations

import numpy as np
from PIL import Image

from core.images import fit_within
from explain.types import Explanation, is_flat

VIEW_SIDE = 1024  # longer side of the photos the app and the explain command draw overlays on
DEFAULT_CMAP = "inferno"  # perceptually uniform; with value-scaled alpha it reads on light and dark themes


def heatmap_rgba(values: np.ndarray, size: tuple[int, int], cmap: str = DEFAULT_CMAP,
                 opacity: float = 0.6) -> Image.Image:
    """A normalised map resized (bicubic, no blocky cells) to ``size`` as an RGBA layer."""
    from matplotlib import colormaps

    v = np.asarray(values, np.float32)
    lo, hi = float(v.min()), float(v.max())
    v = np.zeros_like(v) if is_flat(lo, hi) else (v - lo) / (hi - lo)
    big = np.asarray(Image.fromarray((v * 255).astype(np.uint8)).resize(size, Image.BICUBIC), np.float32) / 255
    rgba = colormaps[cmap](big)
    rgba[..., 3] = np.clip(big * 1.4, 0, 1) * opacity  # faint where irrelevant, so the photo shows through
    return Image.fromarray((rgba * 255).astype(np.uint8), "RGBA")


def overlay(image: Image.Image, explanation: Explanation | np.ndarray, opacity: float = 0.6,
            cmap: str = DEFAULT_CMAP, max_side: int | None = None) -> Image.Image:
    """The image with the explanation's heatmap blended on top (RGB, the image's size, or shrunk first
    to at most ``max_side`` pixels a side: blending a 12-megapixel photo takes half a second)."""
    values = explanation.values if isinstance(explanation, Explanation) else explanation
    base = (image if max_side is None else fit_within(image, max_side)).convert("RGBA")
    return Image.alpha_composite(base, heatmap_rgba(values, base.size, cmap, opacity)).convert("RGB")
