"""The hybrid ViT and its training, on tiny configurations (milliseconds), plus the shipped weights."""
import numpy as np
import pytest
import torch

from core import runtime
from core.errors import EncoderError
from core.progress import drain
from core.train import TrainSettings, clip_loss, embed_features, recall_at, train
from core.vit import HybridViT, VitConfig, load_vit, save_vit, weights_digest
from core.vit_files import vit_model_id

TINY = VitConfig(in_channels=8, grid=4, dim=32, depth=2, heads=2, mlp_ratio=2.0, out_dim=16)


@pytest.fixture(autouse=True, scope="module")
def _runtime():
    runtime.configure()


def toy_data(n=64, seed=0):
    """Feature maps whose content determines the text: a learnable one-to-one pairing."""
    rng = np.random.default_rng(seed)
    feats = rng.normal(size=(n, TINY.in_channels, TINY.grid, TINY.grid)).astype(np.float16)
    proj = rng.normal(size=(TINY.in_channels * TINY.grid * TINY.grid, TINY.out_dim))
    txt = feats.reshape(n, -1).astype(np.float32) @ proj
    txt /= np.linalg.norm(txt, axis=1, keepdims=True)
    return feats, np.stack([txt, txt], axis=1).astype(np.float32)


def test_forward_shapes_and_unit_norm():
    model = HybridViT(TINY).eval()
    x = torch.randn(3, 8, 4, 4)
    out = model(x)
    assert out.shape == (3, 16) and torch.allclose(out.norm(dim=1), torch.ones(3), atol=1e-5)
    assert model.patch_embeddings(x).shape == (3, 16, 16)
    keep = torch.arange(8).expand(3, 8)
    assert model(x, keep).shape == (3, 16)


def test_attention_kept_for_explanations_and_matches_fused_path():
    model = HybridViT(TINY).eval()
    x = torch.randn(2, 8, 4, 4)
    fused = model(x)
    model.keep_attention(True)
    explicit = model(x.requires_grad_())
    assert torch.allclose(fused, explicit, atol=1e-5)
    probs = model.blocks[0].attn.probs
    assert probs.shape == (2, 2, 17, 17) and torch.allclose(probs.sum(-1), torch.ones(2, 2, 17), atol=1e-5)
    explicit[:, 0].sum().backward()
    assert model.blocks[-1].attn.grad is not None
    model.keep_attention(False)
    assert model.blocks[0].attn.probs is None


def test_tiny_training_lowers_loss_and_is_deterministic(tmp_path):
    feats, texts = toy_data()
    idx = np.arange(64)
    settings = TrainSettings(epochs=6, batch_size=16, lr=3e-3, seed=1, warmup_fraction=0.1)

    def run(ckpt=None, epochs=6):
        torch.manual_seed(0)
        model = HybridViT(TINY)
        before = recall_at(embed_features(model, feats, idx), texts[:, 0])
        s = TrainSettings(**{**settings.__dict__, "epochs": epochs})
        result = drain(train(model, feats, texts, idx, idx[:16], s, ckpt))
        return model, result, before

    model, result, before = run()
    losses = [h["loss"] for h in result.history]
    assert losses[-1] < losses[0] * 0.7
    assert recall_at(embed_features(model, feats, idx), texts[:, 0], k=5) > before
    again, _, _ = run()
    assert weights_digest(model) == weights_digest(again)


def test_training_resumes_from_its_checkpoint(tmp_path):
    feats, texts = toy_data()
    idx = np.arange(64)
    settings = TrainSettings(epochs=3, batch_size=16, lr=3e-3, seed=2)
    torch.manual_seed(0)
    straight = HybridViT(TINY)
    drain(train(straight, feats, texts, idx, idx[:8], settings))
    torch.manual_seed(0)
    first = HybridViT(TINY)
    stop_after = {"n": 0}

    def cancel_in_epoch_two():
        stop_after["n"] += 1
        return stop_after["n"] > 4 + 2  # 4 steps per epoch: cancel during the second epoch

    partial = drain(train(first, feats, texts, idx, idx[:8], settings, tmp_path, cancel_in_epoch_two))
    assert partial.epochs_run == 0 and (tmp_path / "checkpoint.pt").exists()
    torch.manual_seed(123)  # a fresh process: the model comes back from the checkpoint
    resumed = HybridViT(TINY)
    result = drain(train(resumed, feats, texts, idx, idx[:8], settings, tmp_path))
    assert result.epochs_run == 3 and [h["epoch"] for h in result.history] == [1, 2, 3]
    assert weights_digest(resumed) == weights_digest(straight)


def test_clip_loss_prefers_matching_pairs():
    a = torch.nn.functional.normalize(torch.randn(8, 16), dim=1)
    scale = torch.tensor(2.0)
    assert clip_loss(a, a, scale) < clip_loss(a, a.roll(1, 0), scale)


def test_clip_loss_counts_identical_texts_as_matches_of_each_other():
    img = torch.nn.functional.normalize(torch.randn(6, 16), dim=1)
    txt = img.clone()
    txt[1] = txt[0]  # two variants sharing one title
    scale = torch.tensor(2.0)
    swapped = img.clone()
    swapped[[0, 1]] = swapped[[1, 0]]
    # With one text for both, which of the two images is which cannot matter to the loss.
    assert torch.allclose(clip_loss(img, txt, scale), clip_loss(swapped, txt, scale), atol=1e-6)
    # Without a shared text, swapping two images is a mistake.
    assert clip_loss(swapped, img, scale) > clip_loss(img, img, scale)


def test_group_loss_pulls_variants_together_and_ignores_singletons():
    from core.train import group_loss

    scale = torch.tensor(2.0)
    base = torch.nn.functional.normalize(torch.randn(4, 16), dim=1)
    groups = torch.tensor([0, 0, 1, 2])
    together = base.clone()
    together[1] = base[0]
    assert group_loss(together, groups, scale) < group_loss(base, groups, scale)
    # a second labelling whose matches are positives too: the union of both labellings' positives
    union = group_loss(base, torch.tensor([0, 1, 2, 3]), scale, also=torch.tensor([5, 5, 6, 7]))
    assert torch.allclose(union, group_loss(base, groups, scale))
    alone = group_loss(base, torch.tensor([0, 1, 2, 3]), scale)
    assert alone.item() == 0.0


def test_paired_order_puts_two_variants_side_by_side_and_keeps_every_item():
    from core.train import _paired_order

    order = np.array([5, 1, 7, 2, 9, 3, 4])
    groups = np.array([0, 1, 0, 2, 0, 1, 3])  # groups of those items, in order
    out = _paired_order(order, groups)
    assert sorted(out) == sorted(order)
    pos = {item: i for i, item in enumerate(out)}
    assert pos[7] == pos[5] + 1 and pos[3] == pos[1] + 1  # first two members of groups 0 and 1 adjacent
    assert 9 in pos  # the third member of group 0 stays in the epoch


def test_group_training_needs_groups_and_lowers_loss():
    feats, texts = toy_data()
    idx = np.arange(64)
    settings = TrainSettings(epochs=4, batch_size=16, lr=3e-3, seed=1, group_pairs=True, image_loss=0.5)
    torch.manual_seed(0)
    with pytest.raises(ValueError, match="groups"):
        drain(train(HybridViT(TINY), feats, texts, idx, idx[:8], settings))
    result = drain(train(HybridViT(TINY), feats, texts, idx, idx[:8], settings, groups=np.arange(64) // 2))
    losses = [h["loss"] for h in result.history]
    assert losses[-1] < losses[0]


def test_category_term_needs_categories_and_gathers_one_category():
    feats, texts = toy_data()
    idx = np.arange(64)
    cats = np.arange(64) % 4  # four categories of 16, each visible in one channel of its feature maps
    feats = feats.copy()
    feats[idx, cats] += 2
    settings = TrainSettings(epochs=15, batch_size=16, lr=3e-3, seed=2, category_loss=1.0)
    with pytest.raises(ValueError, match="categories"):
        drain(train(HybridViT(TINY), feats, texts, idx, idx[:8], settings))

    def spread(model):  # mean similarity within a category minus across categories
        emb = embed_features(model, feats, idx)
        sims = emb @ emb.T
        same = cats[:, None] == cats[None, :]
        np.fill_diagonal(same, False)
        return sims[same].mean() - sims[cats[:, None] != cats[None, :]].mean()

    torch.manual_seed(0)
    plain = HybridViT(TINY)
    drain(train(plain, feats, texts, idx, idx[:8], TrainSettings(epochs=15, batch_size=16, lr=3e-3, seed=2)))
    torch.manual_seed(0)
    gathered = HybridViT(TINY)
    drain(train(gathered, feats, texts, idx, idx[:8], settings, categories=cats))
    assert spread(gathered) > spread(plain) + 0.1


def test_dilated_backbone_keeps_a_14x14_grid_with_the_last_stage():
    from core.vit import Backbone

    cfg = VitConfig(backbone_blocks=16, in_channels=320, dilate_last_stage=True)
    out = Backbone(cfg)(torch.randn(1, 3, 224, 224))
    assert out.shape == (1, 320, 14, 14) and torch.isfinite(out).all()
    x = torch.randn(1, 3, 224, 224)
    plain = Backbone(VitConfig())(x)
    assert plain.shape == (1, 112, 14, 14)
    both = Backbone(VitConfig(backbone_blocks=16, in_channels=432, dilate_last_stage=True, mid_features=True))(x)
    assert both.shape == (1, 432, 14, 14)
    assert torch.allclose(both[:, :112], plain, atol=1e-5)  # dilation only changes the blocks after stride 16


def test_save_load_round_trip(tmp_path):
    model = HybridViT(TINY).eval()
    path = save_vit(model, tmp_path / "m", {"note": "test"})
    loaded, info = load_vit(tmp_path / "m")
    x = torch.randn(2, 8, 4, 4)
    assert torch.equal(model(x), loaded(x)) and loaded.cfg == TINY
    assert info["note"] == "test" and vit_model_id(path) == f"vitrina-vit-{weights_digest(model)}"
    path.write_bytes(b"garbage" * 10)
    with pytest.raises(EncoderError, match="not a usable"):
        load_vit(path)
    with pytest.raises(EncoderError, match="No vision transformer weights"):
        load_vit(tmp_path / "nowhere")
    assert vit_model_id(tmp_path / "nowhere") is None


def test_feature_extraction_caches_and_resumes(tmp_path, mini_dir):
    from core.train import TrainItem, extract_features
    from core.vit import Backbone

    items = [TrainItem(f"k{i}", str(p), ("t",), f"g{i}") for i, p in enumerate(sorted((mini_dir / "images").iterdir()))]
    backbone = Backbone(VitConfig())
    cache = tmp_path / "f.npy"
    calls = {"n": 0}

    def cancel_after_first_batch():
        calls["n"] += 1
        return calls["n"] > 1

    drain(extract_features(items, backbone, cache, batch_size=8, cancelled=cancel_after_first_batch))
    assert (tmp_path / "f.done").read_text().split()[1] == "8"
    progress = []
    feats = drain(extract_features(items, backbone, cache, batch_size=8), progress.append)
    assert [p.done for p in progress] == [12]  # resumed after the first 8
    assert feats.shape == (12, 112, 14, 14) and np.isfinite(feats).all()


def test_recall_counts_ties_against_the_item():
    rng = np.random.default_rng(0)
    txt = rng.normal(size=(30, 8))
    txt /= np.linalg.norm(txt, axis=1, keepdims=True)
    assert recall_at(np.zeros((30, 8)), txt) == 0.0  # a collapsed model: every photo ties with 29 others
    assert recall_at(txt, txt) == 1.0
    pair = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # two identical photos: each ranks after the other
    assert recall_at(pair, pair, k=1) == pytest.approx(1 / 3) and recall_at(pair, pair, k=2) == 1.0
    assert recall_at(np.full((30, 8), np.nan), txt) == 0.0
