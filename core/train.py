"""Training the hybrid ViT: contrastive image-text alignment against frozen MiniLM embeddings.

Symmetric InfoNCE as in CLIP (Radford et al. 2021): in a batch of B products, each image must
pick its own text among the B texts and each text its own image. The text side is frozen
(MiniLM), so images learn to land in the text space. The frozen CNN's feature maps are computed
once and cached (float16), so an epoch only runs the small transformer; random patch dropping
(as in FLIP, Li et al. 2023) and horizontal flips of the feature map are the augmentations.

Everything is a generator yielding :class:`Progress` (with an ETA) and is deterministic under
its seed. Training writes a checkpoint every epoch and resumes from it.
"""
from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from core import runtime
from core.progress import Progress
from core.vit import Backbone, HybridViT, VitConfig

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.pt"


@dataclass(frozen=True)
class TrainItem:
    key: str  # unique: catalog name + product id
    image_path: str
    texts: tuple[str, ...]  # text views of the product: title first, then the fuller text
    group: str  # split unit: products of one group land in the same split (e.g. H&M product_code)
    category: str = ""  # the product's category values; "" when it has none


@dataclass(frozen=True)
class TrainSettings:
    epochs: int = 12
    batch_size: int = 256
    lr: float = 5e-4
    weight_decay: float = 0.05
    warmup_fraction: float = 0.05
    keep_tokens: float = 0.75  # share of patch tokens kept per step
    flip: bool = True
    seed: int = 0
    # Put two variants of one group (e.g. H&M colourways of one design) side by side in a batch, and
    # add an image-to-image term that pulls them together: positives that are hard for the text side.
    group_pairs: bool = False
    image_loss: float = 0.0  # weight of that image-to-image term
    # A third text view per product: its category values alone (what zero-shot classification
    # matches photos against), so that photos of one category gather around its name.
    category_view: bool = False
    # Weight of a second image-to-image term whose positives are products with the same category
    # values (e.g. Tshirts Blue Men) or of the same group: photos of one kind gather even where
    # their titles differ.
    category_loss: float = 0.0


def extract_features(items: Sequence[TrainItem], backbone: Backbone, cache: Path, batch_size: int = 32,
                     cancelled: Callable[[], bool] = lambda: False) -> Generator[Progress, None, np.ndarray]:
    """Feature maps of every item's image, cached as float16 in ``cache`` (resumes a partial cache)."""
    from core.encoders import images_to_tensor
    from core.images import load_image

    runtime.configure()
    cfg_shape = (len(items), backbone.cfg.in_channels, backbone.cfg.grid, backbone.cfg.grid)
    cache.parent.mkdir(parents=True, exist_ok=True)
    done_file = cache.with_suffix(".done")
    fingerprint = hashlib.sha256("\n".join(i.key + i.image_path for i in items).encode()).hexdigest()
    done = 0
    if cache.exists() and done_file.exists():
        fp, n = done_file.read_text().split()
        done = int(n) if fp == fingerprint else 0
    feats = np.lib.format.open_memmap(cache, mode="r+" if done else "w+", dtype=np.float16, shape=cfg_shape)
    start, t0 = done, time.perf_counter()

    def checkpoint(n: int) -> None:
        feats.flush()
        done_file.write_text(f"{fingerprint} {n}")

    for i in range(done, len(items), batch_size):
        if cancelled():
            checkpoint(done)
            return feats
        batch = [load_image(Path(it.image_path)).image for it in items[i:i + batch_size]]
        x = images_to_tensor(batch, 224).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            feats[i:i + len(batch)] = backbone(x).float().numpy().astype(np.float16)
        done = i + len(batch)
        if done % (batch_size * 8) == 0 or done == len(items):
            checkpoint(done)
        yield Progress(done, len(items), "features " + _eta(t0, done - start, len(items) - start))
    return feats


def _eta(t0: float, done: int, total: int) -> str:
    if done <= 0:
        return ""
    left = (time.perf_counter() - t0) / done * (total - done)
    return f"ETA {int(left // 60)}:{int(left % 60):02d}"


@dataclass
class TrainResult:
    epochs_run: int
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0


def clip_loss(img: torch.Tensor, txt: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE over a batch of matching (image, text) pairs.

    Identical texts in one batch (two variants sharing a title) are all counted as matches of each
    other's images, instead of as negatives the model cannot possibly tell apart.
    """
    logits = logit_scale.exp().clamp(max=100) * img @ txt.T
    same = (txt @ txt.T) > 0.9999
    if bool(same.sum() == len(img)):  # only the diagonal: the plain, cheaper form
        target = torch.arange(len(img))
        return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
    target = same.float() / same.sum(dim=1, keepdim=True)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def group_loss(img: torch.Tensor, groups: torch.Tensor, logit_scale: torch.Tensor,
               also: torch.Tensor | None = None) -> torch.Tensor:
    """Supervised contrastive loss (Khosla et al. 2020) between images: same group = positive
    (or the same ``also`` id: a second labelling whose matches are positives too).

    Anchors without another member of their group in the batch do not contribute; 0 if none has one.
    """
    pos = groups[:, None] == groups[None, :]
    if also is not None:
        pos |= also[:, None] == also[None, :]
    pos.fill_diagonal_(False)
    anchors = pos.any(dim=1)
    if not bool(anchors.any()):
        return img.sum() * 0.0
    logits = logit_scale.exp().clamp(max=100) * img @ img.T
    logits = logits.masked_fill(torch.eye(len(img), dtype=torch.bool), float("-inf"))
    logp = logits.log_softmax(dim=1)
    per_anchor = -(logp.masked_fill(~pos, 0.0).sum(dim=1) / pos.sum(dim=1).clamp(min=1))
    return per_anchor[anchors].mean()


def recall_at(img: np.ndarray, txt: np.ndarray, k: int = 10) -> float:
    """Text -> image exact-item recall@k (row i of ``txt`` should retrieve row i of ``img``)."""
    sims = txt @ img.T
    own = np.diag(sims).copy()
    # Ties count against the item (pessimistically): a model mapping every photo to one vector must score
    # like chance, not 1.0. A near-tie within rounding is a tie; a NaN similarity is a miss.
    ahead = sims >= own[:, None] - 1e-6
    np.fill_diagonal(ahead, False)
    rank = np.where(np.isfinite(own), ahead.sum(axis=1), len(own))
    return float((rank < k).mean())


def embed_features(model: HybridViT, feats: np.ndarray, idx: np.ndarray, batch: int = 512) -> np.ndarray:
    """Embeddings of ``feats[sorted(idx)]``, in sorted-index order."""
    model.eval()
    idx = np.sort(idx)
    out = []
    with torch.inference_mode():
        for i in range(0, len(idx), batch):
            out.append(model(torch.from_numpy(feats[idx[i:i + batch]].astype(np.float32))).numpy())
    return np.concatenate(out) if out else np.zeros((0, model.cfg.out_dim), np.float32)


def train(model: HybridViT, feats: np.ndarray, text_views: np.ndarray, train_idx: np.ndarray, val_idx: np.ndarray,
          settings: TrainSettings, checkpoint_dir: Path | None = None,
          cancelled: Callable[[], bool] = lambda: False,
          groups: np.ndarray | None = None,
          categories: np.ndarray | None = None, run_key: str = "") -> Generator[Progress, None, TrainResult]:
    """Train ``model`` in place. ``text_views``: (N, V, 384) unit text embeddings, V views per item;
    ``groups``: (N,) integer group of each item (needed by ``group_pairs`` and ``image_loss``);
    ``categories``: (N,) integer category of each item, unique for items without one (``category_loss``);
    ``run_key``: what the caller trains on (e.g. a digest of the items). The checkpoint is resumed only when
    it was written by the same run: same settings, model configuration, run_key and train/val indices."""
    if (settings.group_pairs or settings.image_loss) and groups is None:
        raise ValueError("group_pairs and image_loss need the items' groups")
    if settings.category_loss and categories is None:
        raise ValueError("category_loss needs the items' categories")
    runtime.configure()
    torch.manual_seed(settings.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    steps_per_epoch = max(1, len(train_idx) // settings.batch_size)
    total = steps_per_epoch * settings.epochs
    warmup = max(1, int(total * settings.warmup_fraction))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / total))))
    result, epoch = TrainResult(0), 0
    ckpt = checkpoint_dir / CHECKPOINT if checkpoint_dir else None
    run = _run_identity(model, text_views, train_idx, val_idx, run_key)
    if ckpt and ckpt.exists():
        state = torch.load(ckpt, weights_only=True)
        if state["settings"] == asdict(settings) and state.get("run") == run:
            model.load_state_dict(state["model"]), opt.load_state_dict(state["opt"]), sched.load_state_dict(state["sched"])
            epoch, result.history = state["epoch"], state["history"]
            log.info("resuming training at epoch %d", epoch)
        else:
            log.warning("the checkpoint in %s is of another run (other products, model or settings); "
                        "training from scratch", checkpoint_dir)
    t0, step0 = time.perf_counter(), epoch * steps_per_epoch
    while epoch < settings.epochs:
        model.train()
        gen = torch.Generator().manual_seed(settings.seed * 100_003 + epoch)  # per epoch: resumes stay exact
        losses = []
        for step, batch in enumerate(_epoch_batches(train_idx, settings, gen, steps_per_epoch, groups)):
            if cancelled():
                return result
            loss = _step(model, feats, text_views, batch, settings, gen, groups, categories)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
            done = epoch * steps_per_epoch + step + 1
            yield Progress(done, total, f"epoch {epoch + 1}/{settings.epochs} loss {np.mean(losses[-20:]):.3f} "
                                        + _eta(t0, done - step0, total - step0))
        epoch += 1
        val = recall_at(embed_features(model, feats, val_idx), text_views[np.sort(val_idx), 0]) if len(val_idx) else None
        result.history.append({"epoch": epoch, "loss": float(np.mean(losses)), "val_text_to_image_r10": val})
        log.info("epoch %d: %s", epoch, result.history[-1])
        if ckpt:
            _save_checkpoint(ckpt, model, opt, sched, epoch, result.history, settings, run)
    result.epochs_run, result.seconds = epoch, time.perf_counter() - t0
    return result


def _epoch_batches(train_idx: np.ndarray, settings: TrainSettings, gen: torch.Generator, steps: int,
                   groups: np.ndarray | None = None):
    order = train_idx[torch.randperm(len(train_idx), generator=gen).numpy()]
    if settings.group_pairs:
        order = _paired_order(order, groups[order])
    return [order[i * settings.batch_size:(i + 1) * settings.batch_size] for i in range(steps)]


def _paired_order(order: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """``order`` rearranged so that the first two items of every group with two or more are adjacent.

    Every item still appears exactly once; pairs and single items keep their random order.
    """
    first: dict = {}
    units: list[list[int]] = []
    for item, g in zip(order.tolist(), groups.tolist()):
        if g in first and len(units[first[g]]) == 1:
            units[first[g]].append(item)
        else:
            first.setdefault(g, len(units))
            units.append([item])
    return np.fromiter((i for unit in units for i in unit), dtype=order.dtype, count=len(order))


def _step(model: HybridViT, feats, text_views, batch: np.ndarray, s: TrainSettings, gen: torch.Generator,
          groups: np.ndarray | None = None, categories: np.ndarray | None = None):
    x = torch.from_numpy(feats[np.sort(batch)].astype(np.float32))
    order = np.argsort(np.argsort(batch))  # rows of x follow sorted(batch); map back to batch order
    x = x[torch.from_numpy(order)]
    if s.flip:
        flip = torch.rand(len(x), generator=gen) < 0.5
        x[flip] = x[flip].flip(-1)
    n = model.cfg.tokens
    keep = max(1, int(n * s.keep_tokens))
    keep_idx = torch.rand(len(x), n, generator=gen).argsort(dim=1)[:, :keep] if keep < n else None
    views = text_views.shape[1]
    pick = torch.randint(views, (len(batch),), generator=gen).numpy()
    txt = torch.from_numpy(text_views[batch, pick])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        img = model(x, keep_idx).float()
    loss = clip_loss(img, txt, model.logit_scale)
    if s.image_loss:
        loss = loss + s.image_loss * group_loss(img, torch.from_numpy(groups[batch]), model.logit_scale)
    if s.category_loss:
        # variants of one group (colourways of one design) are positives too, though their colours differ
        same_group = torch.from_numpy(groups[batch]) if groups is not None else None
        loss = loss + s.category_loss * group_loss(img, torch.from_numpy(categories[batch]), model.logit_scale,
                                                   same_group)
    return loss


def _run_identity(model: HybridViT, text_views: np.ndarray, train_idx: np.ndarray, val_idx: np.ndarray,
                  run_key: str) -> dict:
    """What a checkpoint must match to be resumed: the model configuration and the data trained on."""
    data = hashlib.sha256(np.asarray(train_idx, np.int64).tobytes() + b"|" + np.asarray(val_idx, np.int64).tobytes()
                          + repr(text_views.shape).encode()).hexdigest()[:16]
    return {"config": repr(asdict(model.cfg)), "key": run_key, "data": data}


def _save_checkpoint(path: Path, model, opt, sched, epoch: int, history: list, settings: TrainSettings,
                     run: dict | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(), "epoch": epoch,
                "history": history, "settings": asdict(settings), "run": run or {}}, tmp)
    tmp.replace(path)


def new_model(cfg: VitConfig = VitConfig(), seed: int = 0) -> HybridViT:
    torch.manual_seed(seed)
    return HybridViT(cfg)
