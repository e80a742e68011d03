"""Attention explainers on a tiny ViT with random weights: contracts, and a model with a known answer."""
import numpy as np
import pytest
import torch

from core import runtime
from core.vit import HybridViT, VitConfig
from explain.attention import attention_rollout, gradient_attention, similarity_to

TINY = VitConfig(in_channels=8, grid=4, dim=32, depth=2, heads=2, mlp_ratio=2.0, out_dim=16)


@pytest.fixture(scope="module", autouse=True)
def _rt():
    runtime.configure()


@pytest.fixture
def model():
    torch.manual_seed(0)
    return HybridViT(TINY).eval()


@pytest.mark.parametrize("method", ["rollout", "gradient"])
def test_contract(model, method):
    fmap = torch.randn(1, 8, 4, 4)
    before = fmap.clone()
    query = np.random.default_rng(0).normal(size=16).astype(np.float32)
    query /= np.linalg.norm(query)

    def run():
        if method == "rollout":
            return attention_rollout(model, fmap, "m")
        return gradient_attention(model, fmap, similarity_to(query), "m")

    first, second = run(), run()
    assert first.values.shape == (4, 4) and np.all(np.isfinite(first.values)) and first.values.min() >= 0
    assert np.array_equal(first.values, second.values)  # deterministic
    assert torch.equal(fmap, before)  # input unchanged
    assert all(b.attn.probs is None and not b.attn.keep for b in model.blocks)  # released
    assert all(p.grad is None for p in model.parameters())


def test_state_released_after_an_error(model):
    def broken(_):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        gradient_attention(model, torch.randn(1, 8, 4, 4), broken)
    assert all(b.attn.probs is None and not b.attn.keep for b in model.blocks)


def test_rollout_follows_a_hand_set_attention(model):
    """Zero query/key weights make attention uniform; a bias on one key makes every token attend to it."""
    with torch.no_grad():
        for block in model.blocks:
            w = block.attn.qkv.weight
            w[: 2 * 32].zero_()
            block.attn.qkv.bias[: 2 * 32].zero_()
    uniform = attention_rollout(model, torch.randn(1, 8, 4, 4)).values
    assert np.allclose(uniform, uniform.flat[0], atol=1e-6)
