"""Faithfulness benchmark: per explanation method, over test-split queries of real catalogs.

    python bench/bench_faithfulness.py /tmp/vb/fashion224.vitrina /tmp/vb/hm.vitrina:product_code \
        --queries 150 --json out/faithfulness.json

Each query is a test product's photo; its top result in the ViT space (itself excluded) is
explained, and every image method's map on the result (the slow perturbation map too, unless
``--no-slow``) gets deletion and insertion curves
(16 steps, blur imputer, softened patch borders) against the mean of ``--random-orders`` random patch orders (seeded by
each photo's pixels). Reported per method: mean deletion AUC,
mean insertion AUC, their random counterparts, the share of explanations whose deletion AUC beats
random, and the mean faithfulness score. For text, deleting the top-2 attributed title words is
compared with deleting two random ones.
"""
from __future__ import annotations

import argparse
import random
from pathlib import Path

import numpy as np
from common import write_json

from core.catalog import Catalog
from core.engine import Engine
from core.evaluate import split_pks
from core.images import load_image
from core.search import Filters, Query, search
from core.spaces import spaces_for
from explain.explainer import IMAGE_METHODS, SLOW_METHODS, MatchExplainer
from explain.faithfulness import text_deletion
from explain.gradcam import VARIANTS


def make_explainer(vit, settings: dict) -> MatchExplainer:
    explainer = MatchExplainer(vit, random_orders=settings["random_orders"])
    explainer.cam_variants = settings["cam_variants"]  # this instance only
    explainer.cam_vit_block = settings["cam_vit_block"]
    explainer.feather = settings["feather"]
    return explainer


def run_catalog(spec: str, n: int, explainer_cache: dict, settings: dict) -> dict[str, list]:
    path, _, group = spec.partition(":")
    catalog = Catalog.open(path)
    engine = Engine(catalog, spaces_for(catalog))
    list(engine.load_indexes())
    vit = engine.space("vit").encoder.load()
    if "x" not in explainer_cache:
        explainer_cache["x"] = make_explainer(vit, settings)
    explainer = explainer_cache["x"]
    test = split_pks(engine, "test", group_by=group or None)
    queries = random.Random(0).sample(test, min(n, len(test)))
    methods = IMAGE_METHODS + (SLOW_METHODS if settings["slow"] else ())
    rows: dict[str, list] = {m: [] for m in methods} | {"text": []}
    for i, pk in enumerate(queries, 1):
        product = catalog.product(pk)
        query_image = load_image(Path(product.image_path)).image
        hits = search(engine, Query(image=query_image, spaces=("vit",), exclude=(pk,),
                                    filters=Filters(pks=tuple(test)), k=1))
        if not hits:
            continue
        result = catalog.product(hits[0].pk)
        m = explainer.explain(load_image(Path(result.image_path)).image, result.title, "", query_image=query_image,
                              faithfulness=methods)
        for method, c in m.faithfulness.items():
            rows[method].append(c.to_dict())
        title = m.words.get("title")
        if title is not None and len(title.tokens) >= 3:
            q = explainer.query_vector(query_image, "")
            rows["text"].append(text_deletion(list(title.tokens), title.values,
                                              lambda texts: vit.encode_texts(texts) @ q, k=2))
        if i % 10 == 0:
            print(f"{path}: {i}/{len(queries)}", flush=True)
    return rows


def summarise(rows: dict[str, list]) -> dict:
    out = {}
    for method, items in rows.items():
        if not items:
            continue
        if method == "text":
            out[method] = {"n": len(items), "mean_top_drop": float(np.mean([r["top_drop"] for r in items])),
                           "mean_random_drop": float(np.mean([r["random_drop"] for r in items])),
                           "share_beats_random": float(np.mean([r["beats_random"] for r in items]))}
            continue
        keys = ("deletion_auc", "insertion_auc", "random_deletion_auc", "random_insertion_auc",
                "deletion_auc_normalised", "insertion_auc_normalised", "random_deletion_auc_normalised",
                "random_insertion_auc_normalised", "faithfulness")
        out[method] = {"n": len(items), **{f"mean_{k}": float(np.nanmean([r[k] for r in items])) for k in keys},
                       "share_beats_random": float(np.mean([r["beats_random"] for r in items]))}
        m = out[method]
        measurable = [r for r in items if r["measurable"]]
        m["n_measurable"] = len(measurable)  # the rest: blurring the photo moves the score by < MIN_SPAN, or less
        # than blurring parts of it does
        m["share_beats_random_measurable"] = float(np.mean([r["beats_random"] for r in measurable])) \
            if measurable else float("nan")
        m["deletion_vs_random"] = m["mean_deletion_auc"] / m["mean_random_deletion_auc"]
        m["deletion_vs_random_normalised"] = m["mean_deletion_auc_normalised"] / m["mean_random_deletion_auc_normalised"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("catalogs", nargs="+", help="PATH[:GROUP_COLUMN] of imported catalogs with ViT vectors")
    ap.add_argument("--queries", type=int, default=150, help="per catalog")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--cam", action="append", default=[], metavar="METHOD=VARIANT",
                    help='e.g. "grad-cam vit=element-wise": another grad-cam variant for that map')
    ap.add_argument("--cam-vit-block", type=int,
                    help="read the ViT tokens at this block's input (-1: the last) instead of the patch embeddings")
    ap.add_argument("--random-orders", type=int, default=4,
                    help="random patch orders averaged into each photo's reference curves (the app uses 2)")
    ap.add_argument("--feather", type=float, default=MatchExplainer.feather,
                    help="Gaussian sigma of removed patches' borders in patch sides (0: hard edges, as before)")
    ap.add_argument("--no-slow", action="store_true",
                    help="leave out the slow perturbation map (256 model passes per photo)")
    args = ap.parse_args()
    if args.feather < 0:
        ap.error("--feather must be 0 or more")
    if args.random_orders < 1:
        ap.error("--random-orders must be at least 1")
    settings = {"slow": not args.no_slow, "random_orders": args.random_orders, "feather": args.feather,
                "cam_variants": dict(MatchExplainer.cam_variants),
                "cam_vit_block": MatchExplainer.cam_vit_block if args.cam_vit_block is None else args.cam_vit_block}
    for spec in args.cam:
        method, _, variant = spec.partition("=")
        if method not in settings["cam_variants"] or variant not in VARIANTS:
            ap.error(f"--cam {spec}: methods {list(MatchExplainer.cam_variants)}, variants {list(VARIANTS)}")
        settings["cam_variants"][method] = variant
    cache: dict = {}
    rows: dict[str, list] = {}
    per_catalog = {}
    for spec in args.catalogs:
        got = run_catalog(spec, args.queries, cache, settings)
        per_catalog[Path(spec.partition(":")[0]).stem] = summarise(got)
        for k, v in got.items():
            rows.setdefault(k, []).extend(v)
    write_json(args.json, {"benchmark": "faithfulness", **settings,
                           "all": summarise(rows), "per_catalog": per_catalog})


if __name__ == "__main__":
    main()
