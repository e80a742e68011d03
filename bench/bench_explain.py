"""Speed of explaining one result on 2 cores (shipped ViT, demo photos).

    python bench/bench_explain.py --pairs 20 --json out/bench-explain.json

Per result: attention maps (rollout + gradient-weighted) + Grad-CAM (CNN + ViT tokens) + match
map, on the result and the query photo; token attributions (query text, title); deletion and
insertion curves (16 steps, batched) for one method, and for all four with a shared random reference;
the slow perturbation map on the result photo (256 model passes; ``--no-slow`` leaves it out).
``--photo-side 4000``: every photo enlarged to that longer side first (a camera's photo, not a
web catalog's), with the peak memory of the run.
"""
from __future__ import annotations

import argparse
import csv
import random
import time
from pathlib import Path

from PIL import Image

from common import ROOT, peak_rss_mb, percentiles, write_json

from core.images import load_image
from core.vit import VitEncoder
from core.vit_files import SHIPPED_WEIGHTS
from explain.explainer import MatchExplainer
from explain.match_map import match_map

DEMO = ROOT / "resources" / "demo"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=20)
    ap.add_argument("--weights", type=Path, default=SHIPPED_WEIGHTS)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--random-orders", type=int, default=2, help="random orders of the curves' reference (app: 2)")
    ap.add_argument("--feather", type=float, default=MatchExplainer.feather,
                    help="softened borders of removed patches, in patch sides (0: hard edges, as before)")
    ap.add_argument("--no-slow", action="store_true", help="leave out the perturbation map's timing")
    ap.add_argument("--photo-side", type=int, help="enlarge every photo to this longer side (e.g. 4000)")
    args = ap.parse_args()
    rows = list(csv.DictReader(open(DEMO / "products.csv", encoding="utf-8")))
    rng = random.Random(0)
    pairs = [rng.sample(rows, 2) for _ in range(args.pairs + 2)]
    x = MatchExplainer(VitEncoder(args.weights), random_orders=args.random_orders)
    x.feather = args.feather  # this instance only
    deltas: list[float] = []
    t = {k: [] for k in ("maps_and_match", "words", "curves_one_method", "curves_all_methods", "total",
                         "perturbation_map")}
    for i, (qrow, rrow) in enumerate(pairs):
        q, r = (load_image(DEMO / row["image"]).image for row in (qrow, rrow))
        if args.photo_side:
            q, r = (im.resize((round(im.width * args.photo_side / max(im.size)),
                               round(im.height * args.photo_side / max(im.size))), Image.LANCZOS) for im in (q, r))
        t0 = time.perf_counter()
        target = x.query_vector(q, qrow["title"])
        result_vec = x.embed([r])[0]
        t1 = time.perf_counter()
        maps = x.image_maps(r, target, {})
        x.image_maps(q, result_vec, {})
        match_map(x._fmap(q), x._fmap(r))
        t2 = time.perf_counter()
        words = x.words.explain_many([qrow["title"], rrow["title"]], [result_vec, target], ["query", "title"])
        t3 = time.perf_counter()
        # IG completeness: |sum of attributions - (score - baseline score)|, relative to the score
        deltas.extend(abs(w.extras["delta"]) / max(abs(w.extras["score"]), 1e-6) for w in words)
        x.faithfulness_of(r, maps["gradient-weighted attention"], target)
        t4 = time.perf_counter()
        full = x.explain(r, rrow["title"], "", q, qrow["title"])
        t5 = time.perf_counter()
        if not args.no_slow:
            x.perturbation(r, target)
        t6 = time.perf_counter()
        if i < 2:
            continue  # warm-up
        t["maps_and_match"].append(t2 - t1)
        t["words"].append(t3 - t2)
        t["curves_one_method"].append(t4 - t3)
        t["curves_all_methods"].append(full.seconds["faithfulness"])
        t["total"].append(t5 - t4)
        if not args.no_slow:
            t["perturbation_map"].append(t6 - t5)
        del t0
    write_json(args.json, {"benchmark": "explain-speed", "model": x.model_id, "pairs": args.pairs,
                           "ig_steps": x.words.steps, "random_orders": x.random_orders, "feather": x.feather,
                           "ig_relative_delta_mean": float(sum(deltas) / len(deltas)),
                           "photo_side": args.photo_side, "peak_rss_mb": round(peak_rss_mb()),
                           **{k: percentiles(v) for k, v in t.items() if v}})


if __name__ == "__main__":
    main()
