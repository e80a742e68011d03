"""What every explainer returns."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Explanation:
    """A relevance map over an image (rows x cols grid, values >= 0) or over text tokens.

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
        return np.zeros_like(v) if hi - lo < 1e-12 else (v - lo) / (hi - lo)
