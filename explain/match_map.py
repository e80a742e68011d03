"""Match maps: which region of the query corresponds to which region of the result.

The hybrid ViT's patch tokens are the cells of the CNN feature map; each query cell is compared
(cosine) with every result cell. For every result cell we keep its best-matching query cell and
that similarity, so a merchandiser sees that the collar here matches the collar there; the
strongest mutual best matches are returned as correspondences to draw.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from explain.types import MATCH_MAP, Explanation


def match_map(query_fmap: torch.Tensor, result_fmap: torch.Tensor, model_id: str = "",
              top: int = 8) -> Explanation:
    """``query_fmap``/``result_fmap``: (1, C, g, g). Values: (g, g) over the result image."""
    g = result_fmap.shape[-1]
    q = F.normalize(query_fmap[0].flatten(1).T.float(), dim=-1)  # (Nq, C)
    r = F.normalize(result_fmap[0].flatten(1).T.float(), dim=-1)  # (Nr, C)
    sims = (r @ q.T).numpy()  # (Nr, Nq)
    best_q = sims.argmax(axis=1)
    best = sims.max(axis=1)
    best_r = sims.argmax(axis=0)
    mutual = [(int(best_q[i]), i, float(best[i])) for i in range(len(best)) if best_r[best_q[i]] == i]
    mutual.sort(key=lambda t: -t[2])
    # cells of the model's square grid (the photo square-padded), (row, col) on query and result
    pairs = [((qi // g, qi % g), (ri // g, ri % g), s) for qi, ri, s in mutual[:top]]
    query_side = sims.max(axis=0).reshape(g, g)
    return Explanation(MATCH_MAP, model_id, "patch-to-patch cosine similarity",
                       np.clip(best, 0, None).reshape(g, g).astype(np.float32),
                       extras={"pairs": pairs, "query_map": np.clip(query_side, 0, None).astype(np.float32),
                               "best_query_cell": best_q.reshape(g, g)})
