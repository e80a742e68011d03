"""Attention maps of the hybrid ViT that explain a similarity score.

- Attention rollout (Abnar & Zuidema 2020, "Quantifying Attention Flow in Transformers"): the
  head-averaged attention of every layer, mixed with the identity for the residual path and
  multiplied through the layers; the CLS row says how much each patch flows into the output.
- Gradient-weighted attention (Chefer, Gur & Wolf 2021, "Generic Attention-model Explainability
  for Interpreting Bi-Modal and Encoder-Decoder Transformers"): each layer's attention weighted
  by its gradient with respect to the explained score, positive part, head-averaged, accumulated
  as R <- R + A_bar R. Class-specific: it follows the score being explained, here the cosine
  similarity to the query.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from core.vit import HybridViT
from explain.types import Explanation

ScoreFn = Callable[[torch.Tensor], torch.Tensor]  # (B, out_dim) embeddings -> (B,) scores


def similarity_to(query: np.ndarray) -> ScoreFn:
    """The score of a match: cosine similarity of the embedding to a unit query vector."""
    q = torch.as_tensor(np.asarray(query, np.float32))

    def score(embedding: torch.Tensor) -> torch.Tensor:
        return embedding @ q

    return score


class _KeptAttention:
    """Switches the model to keeping attention for one forward pass; always switches back."""

    def __init__(self, model: HybridViT):
        self.model = model

    def __enter__(self) -> HybridViT:
        self.model.keep_attention(True)
        return self.model

    def __exit__(self, *exc) -> None:
        self.model.keep_attention(False)


def _grid(cls_row: torch.Tensor, model: HybridViT) -> np.ndarray:
    g = model.cfg.grid
    return cls_row[1:].reshape(g, g).detach().float().numpy()


def attention_rollout(model: HybridViT, fmap: torch.Tensor, model_id: str = "",
                      residual: float = 0.5) -> Explanation:
    """Rollout for one feature map (1, C, H, W). Not target-specific (it explains the embedding)."""
    with _KeptAttention(model), torch.no_grad():
        model(fmap)
        layers = [b.attn.probs[0].mean(dim=0) for b in model.blocks]
    n = layers[0].shape[-1]
    rollout = torch.eye(n)
    for a in layers:
        a = residual * a + (1 - residual) * torch.eye(n)
        a = a / a.sum(dim=-1, keepdim=True)
        rollout = a @ rollout
    return Explanation("attention rollout", model_id, "embedding", _grid(rollout[0], model))


def gradient_attention(model: HybridViT, fmap: torch.Tensor, score: ScoreFn, model_id: str = "",
                       target: str = "cosine similarity to the query") -> Explanation:
    """Chefer et al.'s gradient-weighted attention relevance for ``score(model(fmap))``."""
    with _KeptAttention(model):
        try:
            with torch.enable_grad():
                x = fmap.detach().clone().requires_grad_(True)
                value = score(model(x)).sum()
                value.backward()
            pairs = [(b.attn.probs[0].detach(), b.attn.grad[0]) for b in model.blocks]
        finally:
            model.zero_grad(set_to_none=True)
    n = pairs[0][0].shape[-1]
    relevance = torch.eye(n)
    for probs, grad in pairs:
        a_bar = (grad * probs).clamp(min=0).mean(dim=0)
        relevance = relevance + a_bar @ relevance
    cls_row = relevance[0].clone()
    cls_row[0] = 0.0
    return Explanation("gradient-weighted attention", model_id, target, _grid(cls_row, model),
                       extras={"score": float(value.detach())})
