"""Grad-CAM with a similarity target, on tiny models built from configs (random weights)."""
import numpy as np
import pytest
import torch
from torch import nn

from core import runtime
from core.vit import HybridViT, VitConfig
from explain.gradcam import ImageToEmbedding, PooledHead, SimilarityTarget, grad_cam, vit_reshape

TINY = VitConfig(in_channels=8, grid=4, dim=32, depth=2, heads=2, mlp_ratio=2.0, out_dim=16)


@pytest.fixture(scope="module", autouse=True)
def _rt():
    runtime.configure()


def tiny_backbone():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, stride=2, padding=1))
    return net.eval().requires_grad_(False)


def unit(v):
    v = np.asarray(v, np.float32)
    return v / np.linalg.norm(v)


@pytest.mark.parametrize("variant", ["grad-cam", "element-wise"])
@pytest.mark.parametrize("where", ["cnn", "vit", "patch"])
def test_contract(where, variant):
    backbone = tiny_backbone()
    torch.manual_seed(1)
    vit = HybridViT(TINY).eval()
    model = ImageToEmbedding(backbone, vit)
    layer, reshape = {"cnn": (backbone[2], None), "vit": (vit.blocks[-1].norm1, vit_reshape(4)),
                      "patch": (vit.patch, vit_reshape(4, cls=False))}[where]
    image = torch.randn(1, 3, 16, 16)
    before = image.clone()
    query = unit(np.random.default_rng(0).normal(size=16))
    a = grad_cam(model, image, layer, query, method=f"grad-cam {where}", reshape=reshape, variant=variant)
    b = grad_cam(model, image, layer, query, method=f"grad-cam {where}", reshape=reshape, variant=variant)
    assert a.values.shape == (16, 16) and np.all(np.isfinite(a.values)) and a.values.min() >= 0
    assert np.array_equal(a.values, b.values) and torch.equal(image, before)
    with torch.no_grad():
        assert a.extras["score"] == pytest.approx(float(model(image)[0] @ torch.from_numpy(query)), abs=1e-5)
    hooks = [m._forward_hooks for m in model.modules()] + [m._backward_hooks for m in model.modules()]
    assert all(len(h) == 0 for h in hooks)  # released
    assert all(p.grad is None for p in model.parameters())


def test_hooks_released_after_an_error():
    backbone = tiny_backbone()
    model = ImageToEmbedding(backbone, PooledHead())
    with pytest.raises(Exception):
        grad_cam(model, torch.randn(1, 3, 16, 16), backbone[2], np.ones(3, np.float32), method="x")  # wrong dim
    assert all(len(m._forward_hooks) == 0 for m in model.modules())
    with pytest.raises(ValueError, match="variant"):
        grad_cam(model, torch.randn(1, 3, 16, 16), backbone[2], np.ones(3, np.float32), method="x", variant="cam++")


@pytest.mark.parametrize("variant", ["grad-cam", "element-wise"])
def test_known_answer_pooled_similarity_points_at_the_matching_region(variant):
    """A 1x1-conv 'backbone' that passes colours through: the red half of a red/blue image explains
    similarity to a red query."""
    conv = nn.Conv2d(3, 3, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.eye(3).reshape(3, 3, 1, 1))
    backbone = nn.Sequential(conv, nn.ReLU()).eval().requires_grad_(False)
    model = ImageToEmbedding(backbone, PooledHead())
    image = torch.zeros(1, 3, 8, 8)
    image[0, 0, :, :4] = 1.0  # left half red
    image[0, 2, :, 4:] = 1.0  # right half blue
    cam = grad_cam(model, image, conv, unit([1, 0, 0]), method="grad-cam", variant=variant).values
    assert cam[:, :4].mean() > cam[:, 4:].mean() + 0.5
    assert SimilarityTarget(unit([0, 0, 1]))(torch.tensor([0.0, 0.0, 1.0])) == pytest.approx(1.0)
