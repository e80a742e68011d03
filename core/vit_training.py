"""Training runs of the hybrid ViT on catalogs: the shipped model, and adapting to a user's catalog.

``train_on_catalogs`` reproduces the shipped weights from imported catalogs (see
``scripts/train_vit.sh``); ``adapt_to_catalog`` fine-tunes the current model on one catalog's
photo/title pairs and keeps the new weights only if they beat the current ones on a held-out
slice of that catalog. Both are generators yielding Progress.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from core.catalog import Catalog
from core.encoders import minilm
from core.errors import AppError, Cancelled
from core.progress import Progress
from core.spaces import ADAPTED_META, adapted_weights, models_folder, stored_weights_path, text_of
from core.splits import split_of
from core.train import TrainItem, TrainSettings, embed_features, extract_features, new_model, recall_at, train
from core.vit import Backbone, HybridViT, VitConfig, load_vit, save_vit
from core.vit_files import SHIPPED_WEIGHTS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CatalogSource:
    path: Path
    group_by: str | None = None  # attribute that keeps variants together in one split


def items_from_catalog(catalog: Catalog, group_by: str | None = None, category_view: bool = False) -> list[TrainItem]:
    """Products with a photo, each with two text views: its title, and title + description + categories.

    ``category_view`` adds a third: the category values alone (the title where it has none).
    """
    fields = catalog.category_fields()
    if group_by and group_by not in catalog.attribute_keys():
        raise AppError(f"{catalog.name} has no column '{group_by}' to split by; its columns: "
                       f"{', '.join(catalog.attribute_keys()) or 'none'}.")
    groups = catalog.attribute_column(group_by) if group_by else {}
    items = []
    for product in catalog.products(catalog.all_pks()):
        if not product.image_path:
            continue
        cats = " ".join(product.attributes[f] for f in fields if product.attributes.get(f))
        full = f"{text_of(product)}. {cats}".strip(". ")
        views = (product.title, full) + ((cats or product.title,) if category_view else ())
        items.append(TrainItem(f"{catalog.name}:{product.sku}", product.image_path, views,
                               groups.get(product.pk, product.sku), cats))
    return items


def _ids_per_catalog(items: Sequence[TrainItem], labels: Sequence[str]) -> np.ndarray:
    """(N,) integer id of each item's label; equal labels of different catalogs get different ids."""
    codes: dict[tuple[str, str], int] = {}
    return np.array([codes.setdefault((it.key.split(":", 1)[0], label), len(codes))
                     for it, label in zip(items, labels)], np.int64)


def group_ids(items: Sequence[TrainItem]) -> np.ndarray:
    """(N,) integer id of each item's group, distinct across catalogs."""
    return _ids_per_catalog(items, [it.group for it in items])


def category_ids(items: Sequence[TrainItem]) -> np.ndarray:
    """(N,) integer id of each item's category values, distinct across catalogs; an item without
    categories gets an id of its own (it has no positives)."""
    return _ids_per_catalog(items, [it.category or "\0" + it.key for it in items])


def text_views(items: Sequence[TrainItem], cache: Path, encoder=None) -> np.ndarray:
    """(N, V, 384) MiniLM embeddings of every text view, cached by content."""
    digest = hashlib.sha256(json.dumps([it.texts for it in items]).encode()).hexdigest()[:16]
    path = cache / f"texts-{digest}.npy"
    views = len(items[0].texts)
    cached = _read_text_cache(path, (len(items), views))
    if cached is not None:
        return cached
    enc = encoder or minilm()
    flat = enc.encode_texts([t for it in items for t in it.texts])
    out = flat.reshape(len(items), views, -1).astype(np.float32)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:  # to a temporary name, then replaced: a cut-short write never stands as the cache
        np.save(f, out)
    tmp.replace(path)
    return out


def _read_text_cache(path: Path, shape: tuple[int, int]) -> np.ndarray | None:
    """The cached text embeddings, or None when there are none or they cannot be read (then recomputed)."""
    if not path.exists():
        return None
    try:
        cached = np.load(path)
    except (OSError, ValueError, EOFError) as exc:
        log.warning("The text cache %s cannot be read (%s); it is computed again.", path, exc)
        return None
    if cached.ndim != 3 or cached.shape[:2] != shape or cached.dtype != np.float32:
        log.warning("The text cache %s does not fit these texts; it is computed again.", path)
        return None
    return cached


def feature_cache(items: Sequence[TrainItem], cfg: VitConfig, cache: Path) -> Path:
    """The cache file of these items' feature maps under this backbone configuration."""
    backbone = [cfg.backbone, cfg.backbone_blocks, cfg.dilate_last_stage] + ([True] if cfg.mid_features else [])
    prefix = json.dumps(backbone) if cfg.dilate_last_stage else ""  # (the plain backbone keeps its old names)
    digest = hashlib.sha256((prefix + "\n".join(it.key + it.image_path for it in items)).encode()).hexdigest()[:16]
    return cache / f"features-{digest}.npy"


def _features(items, cfg: VitConfig, cache: Path, cancelled):
    return (yield from extract_features(items, Backbone(cfg), feature_cache(items, cfg, cache), cancelled=cancelled))


def train_on_catalogs(sources: Sequence[CatalogSource], out: Path, work: Path, settings: TrainSettings,
                      cfg: VitConfig = VitConfig(),
                      cancelled: Callable[[], bool] = lambda: False) -> Generator[Progress, None, dict]:
    """Train from scratch on the catalogs' train split; save to ``out``; returns the run's summary."""
    t0 = time.perf_counter()
    items: list[TrainItem] = []
    for src in sources:
        with Catalog.open(src.path) as cat:
            items += items_from_catalog(cat, src.group_by, settings.category_view)
    split = np.array([split_of(it.group, settings.seed) for it in items])
    counts = {str(k): int(v) for k, v in zip(*np.unique(split, return_counts=True))}
    if not counts.get("train"):
        raise AppError(f"None of the {len(items)} products with a photo falls in the training split "
                       f"({counts or 'no products'}): train on more products (at least a few dozen).")
    yield Progress(0, None, f"{len(items)} products: {counts}")
    feats = yield from _features(items, cfg, work, cancelled)
    texts = text_views(items, work)
    train_idx, val_idx = np.flatnonzero(split == "train"), np.flatnonzero(split == "val")
    model = new_model(cfg, settings.seed)
    # The checkpoint resumes only a run on these very items (a shared --work held other catalogs' runs).
    run_key = hashlib.sha256(json.dumps([[it.key, it.image_path, it.texts, it.group, it.category] for it in items]
                                        ).encode()).hexdigest()[:16]
    result = yield from train(model, feats, texts, train_idx, val_idx, settings, work / "checkpoint", cancelled,
                              group_ids(items), category_ids(items), run_key=run_key)
    test_idx = np.flatnonzero(split == "test")
    test_r10 = recall_at(embed_features(model, feats, test_idx), texts[np.sort(test_idx), 0]) if len(test_idx) else None
    summary = {"catalogs": [str(s.path) for s in sources], "products": len(items),
               "split": counts,
               "settings": asdict(settings), "history": result.history,
               "test_text_to_image_r10_title": test_r10, "seconds_total": round(time.perf_counter() - t0, 1),
               "seconds_training": round(result.seconds, 1)}
    if result.epochs_run == settings.epochs:
        save_vit(model, out, summary)
    return summary


@dataclass(frozen=True)
class AdaptResult:
    before: float  # text -> image exact-product recall@k on the held-out slice, current model
    after: float   # the same for the fine-tuned model
    kept: bool     # the new weights replaced the current ones
    weights: Path | None
    held_out: int
    k: int = 10


def held_out_k(held_out: int) -> int:
    """The k of the recall@k that compares the models on ``held_out`` products: 10 where chance finds at most a
    tenth, fewer on a small catalog (recall@10 of 10 products is 1.0 for any model: none could ever be kept)."""
    return max(1, min(10, held_out // 10))


def adapted_weights_folder(catalog: Catalog) -> Path:
    return models_folder(catalog) / "vit"


def current_weights(catalog: Catalog) -> Path:
    """The catalog's adapted weights; the shipped ones when it has none or they are missing (with a warning)."""
    return adapted_weights(catalog) or SHIPPED_WEIGHTS


def adapt_to_catalog(catalog: Catalog, settings: TrainSettings = TrainSettings(epochs=4, lr=1e-4, batch_size=128),
                     work: Path | None = None,
                     cancelled: Callable[[], bool] = lambda: False) -> Generator[Progress, None, AdaptResult]:
    """Fine-tune the catalog's current ViT on its photo/title pairs; keep it only if it scores better."""
    current = current_weights(catalog)
    model, info = load_vit(current)
    items = items_from_catalog(catalog, category_view=settings.category_view)
    if len(items) < 50:
        raise AppError(f"Adapting needs at least 50 products with photos; {catalog.name} has {len(items)}.")
    work = work or models_folder(catalog) / "work"
    split = np.array([split_of(it.group, settings.seed, val=0, test=15) for it in items])
    held, train_idx = np.flatnonzero(split == "test"), np.flatnonzero(split == "train")
    feats = yield from _features(items, model.cfg, work, cancelled)
    if cancelled():
        raise Cancelled("Adaptation cancelled; the current model stays.")
    texts = text_views(items, work)
    k = held_out_k(len(held))
    before = recall_at(embed_features(model, feats, held), texts[held, 0], k)
    tuned = HybridViT(model.cfg)
    tuned.load_state_dict(model.state_dict())
    result = yield from train(tuned, feats, texts, train_idx, np.array([], int), settings, None, cancelled,
                              group_ids(items), category_ids(items))
    if result.epochs_run < settings.epochs:
        return AdaptResult(before, before, False, None, len(held), k)
    after = recall_at(embed_features(tuned, feats, held), texts[held, 0], k)
    if cancelled():  # Cancel during the last comparison: nothing kept (the window said the current model stays)
        raise Cancelled("Adaptation cancelled; the current model stays.")
    kept = after > before
    weights = None
    if kept:
        weights = save_vit(tuned, adapted_weights_folder(catalog), {**info, "adapted_to": catalog.name,
                                                                    "held_out_recall": {"k": k, "before": before, "after": after}})
        with catalog.transaction():
            catalog.set_meta(ADAPTED_META, stored_weights_path(catalog, weights))
    return AdaptResult(before, after, kept, weights, len(held), k)
