"""Compare ViT training levers on the validation split, before retraining the shipped model.

    python bench/vit_levers.py --fashion /tmp/vb/fashion224.vitrina --hm /tmp/vb/hm.vitrina \
        --epochs 10 --dilate --group-pairs --image-loss 0.5 --json out/levers/dilate-pairs.json

Trains from scratch on the train split (features cached in --work) and reports, on validation
products only: text->image exact R@10, fashion image->image P@10 same articleType, H&M image->image
hit@1 same product_code, each next to the pooled EfficientNet-Lite0 vectors of the same products,
and the zero-shot articleType accuracy of the fashion photos.
``--weights FILE`` evaluates existing weights instead of training.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from common import write_json

from core.catalog import Catalog
from core.progress import drain
from core.splits import split_of
from core.train import TrainSettings, embed_features, new_model, recall_at, train
from core.vit import VitConfig, load_vit
from core.vit_training import _features, category_ids, group_ids, items_from_catalog, text_views


def precision_at(vecs: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Mean precision@k over the queries that have at least one other product with their label."""
    sims = vecs @ vecs.T
    np.fill_diagonal(sims, -np.inf)
    top = np.argsort(-sims, axis=1)[:, :k]
    same = labels[:, None] == labels[None, :]
    has_relevant = same.sum(axis=1) > 1
    return float((labels[top] == labels[:, None])[has_relevant].mean())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fashion", type=Path, required=True)
    ap.add_argument("--hm", type=Path, required=True)
    ap.add_argument("--work", type=Path, default=Path("out/vit-work"))
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--dilate", action="store_true")
    ap.add_argument("--mid", action="store_true", help="with --dilate: stride-16 features too (432 channels)")
    ap.add_argument("--group-pairs", action="store_true")
    ap.add_argument("--image-loss", type=float, default=0.0)
    ap.add_argument("--category-view", action="store_true", help="a third text view: the category values alone")
    ap.add_argument("--category-loss", type=float, default=0.0,
                    help="weight of an image-to-image term with same-category products as positives")
    ap.add_argument("--weights", type=Path)
    ap.add_argument("--split", default="val")
    ap.add_argument("--save", type=Path, help="folder to save the trained weights in")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    items, labels, pooled = [], [], []
    for path, group, label in ((args.fashion, None, "articleType"), (args.hm, "product_code", "product_code")):
        with Catalog.open(path) as cat:
            its = items_from_catalog(cat, group, args.category_view)
            by_sku = {p.sku: p.pk for p in cat.products(cat.all_pks())}
            col = cat.attribute_column(label)
            pks, vecs = cat.embeddings("image")
            row = {int(pk): i for i, pk in enumerate(pks)}
            for it in its:
                pk = by_sku[it.key.split(":", 1)[1]]
                labels.append(f"{path.name}:{col.get(pk, '')}")
                pooled.append(vecs[row[pk]])
            items += its
        if path == args.fashion:
            n_fashion = len(items)  # the fashion catalog's items come first
    labels, pooled = np.array(labels), np.stack(pooled)
    split = np.array([split_of(it.group, 0) for it in items])
    fashion = np.arange(len(items)) < n_fashion

    t0 = time.perf_counter()
    if args.weights:
        model, _ = load_vit(args.weights)
        cfg = model.cfg
    else:
        cfg = (VitConfig(backbone_blocks=16, in_channels=432 if args.mid else 320, dilate_last_stage=True,
                         mid_features=args.mid) if args.dilate else VitConfig())
        model = new_model(cfg, 0)
    feats = drain(_features(items, cfg, args.work, lambda: False))
    texts = text_views(items, args.work)
    settings = TrainSettings(epochs=args.epochs, group_pairs=args.group_pairs, image_loss=args.image_loss,
                             category_view=args.category_view, category_loss=args.category_loss)
    if not args.weights:
        result = drain(train(model, feats, texts, np.flatnonzero(split == "train"), np.flatnonzero(split == "val"),
                             settings, None, groups=group_ids(items),
                             categories=category_ids(items)),
                       lambda p: print(p.message, flush=True) if p.done % 200 == 0 else None)
        print(result.history)
        if args.save:
            from core.vit import save_vit
            save_vit(model, args.save, {"history": result.history, "settings": vars(settings)})
    out = {"settings": vars(args) | {"weights": str(args.weights) if args.weights else None, "fashion": str(args.fashion),
                                     "hm": str(args.hm), "work": str(args.work), "json": str(args.json),
                                     "save": str(args.save) if args.save else None},
           "seconds": round(time.perf_counter() - t0, 1)}
    idx = np.flatnonzero(split == args.split)
    emb = embed_features(model, feats, idx)  # sorted idx order
    idx = np.sort(idx)
    out["text->image exact R@10 (all)"] = round(recall_at(emb, texts[idx, 0]), 4)
    for name, mask, k, metric in (("fashion image->image articleType P@10", fashion[idx], 10, "P"),
                                  ("hm image->image same-design hit@1", ~fashion[idx], 1, "P")):
        lab = labels[idx][mask]
        out[f"{name} [vit]"] = round(precision_at(emb[mask], lab, k), 4)
        out[f"{name} [pooled cnn]"] = round(precision_at(pooled[idx][mask], lab, k), 4)
        fused = np.concatenate([emb[mask], pooled[idx][mask]], axis=1)
        out[f"{name} [vit+cnn]"] = round(precision_at(fused, lab, k), 4)
    # zero-shot articleType of the fashion photos (the application's "same category" filter)
    from core.encoders import minilm
    lab = labels[idx][fashion[idx]]
    names = sorted(set(lab))
    txt = minilm().encode_texts([n.split(":", 1)[1] for n in names])
    guess = np.array(names)[np.argmax(emb[fashion[idx]] @ txt.T, axis=1)]
    out["fashion zero-shot articleType accuracy [vit]"] = round(float((guess == lab).mean()), 4)
    for k, v in out.items():
        print(f"{k:55} {v}")
    if args.json:
        write_json(args.json, out)


if __name__ == "__main__":
    main()
