"""Grad-CAM (Selvaraju et al. 2017) of a match, with the pytorch-grad-cam package.

The explained score is the cosine similarity of the product's embedding to the query vector
(``SimilarityTarget``), not a class logit. Two places to look: the CNN's last stage (what the
convolutional features saw) and the transformer's tokens, reshaped back into the 14 x 14 image
grid (``vit_reshape``). Which block's tokens and which variant of the package each map uses is
``explain.explainer.MatchExplainer``'s choice, made with the faithfulness benchmark.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from explain.types import Explanation


class SimilarityTarget:
    """A grad-cam target: the model output's dot product with a unit query vector."""

    def __init__(self, query: np.ndarray):
        self.query = torch.as_tensor(np.asarray(query, np.float32))

    def __call__(self, model_output: torch.Tensor) -> torch.Tensor:
        return (model_output * self.query).sum(dim=-1)


class ImageToEmbedding(nn.Module):
    """Preprocessed image batch -> unit embedding, through a CNN backbone and a head on its map."""

    def __init__(self, backbone: nn.Module, head: nn.Module):
        super().__init__()
        self.backbone, self.head = backbone, head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


class PooledHead(nn.Module):
    """Average pooling + L2 normalisation: the foundation image space on EfficientNet features."""

    def forward(self, fmap: torch.Tensor) -> torch.Tensor:
        return F.normalize(fmap.mean(dim=(2, 3)), dim=-1)


def vit_reshape(grid: int, cls: bool = True):
    """Transformer tokens (B, 1 + N, C) -> (B, C, grid, grid), dropping the CLS token (``cls=False``:
    patch tokens only, (B, N, C), as the patch embedding gives them)."""

    def reshape(tokens: torch.Tensor) -> torch.Tensor:
        b, _, c = tokens.shape
        return (tokens[:, 1:] if cls else tokens).reshape(b, grid, grid, c).permute(0, 3, 1, 2)

    return reshape


VARIANTS = ("grad-cam", "element-wise")


def grad_cam(model: nn.Module, image: torch.Tensor, target_layer: nn.Module, query: np.ndarray, *,
             method: str, model_id: str = "", reshape=None, variant: str = "grad-cam") -> Explanation:
    """Grad-CAM map (at the input's resolution) of ``query · model(image)`` for one image (1, 3, H, W).

    ``variant``: "grad-cam" weighs each channel by its spatially averaged gradient (Selvaraju et al.);
    "element-wise" (the package's GradCAMElementWise) multiplies gradient and activation at each
    position before summing channels, which stays faithful when the layer is followed by attention
    instead of global pooling (see docs/BENCHMARKS.md).
    """
    from pytorch_grad_cam import GradCAM, GradCAMElementWise

    if variant not in VARIANTS:
        raise ValueError(f"unknown Grad-CAM variant {variant!r}; one of {', '.join(VARIANTS)}")
    kind = GradCAM if variant == "grad-cam" else GradCAMElementWise
    cam = kind(model=model, target_layers=[target_layer], reshape_transform=reshape)
    cam.compute_input_gradient = True  # frozen weights: gradients must start at the input
    try:
        values = cam(input_tensor=image.detach().clone(), targets=[SimilarityTarget(query)])[0]
        score = float(SimilarityTarget(query)(cam.outputs[0].detach()))
    finally:
        cam.activations_and_grads.release()  # never leave hooks behind, also on errors
        model.zero_grad(set_to_none=True)
    return Explanation(method, model_id, "cosine similarity to the query", np.asarray(values, np.float32),
                       extras={"score": score, "variant": variant})
