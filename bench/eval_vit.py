"""The ViT against its baselines on test products never seen in training (issue: own vision transformer).

    python bench/eval_vit.py --fashion out/vit-data/fashion224.vitrina --hm out/vit-data/hm.vitrina \
        --json docs/figures/eval-vit.json

Both catalogs must carry vectors of every space (`vitrina index CATALOG` computes missing ones).
Queries and searched products are the test split only (split by product id; H&M by product_code).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from common import write_json

from core.catalog import Catalog
from core.engine import Engine
from core.evaluate import evaluate, split_pks
from core.progress import drain
from core.spaces import spaces_for


def engine_for(path: Path) -> Engine:
    catalog = Catalog.open(path)
    engine = Engine(catalog, spaces_for(catalog))
    list(engine.load_indexes())
    return engine


def run(engine, label, mode, space, k, within, queries):
    spaces = tuple(space.split("+"))
    r = drain(evaluate(engine, label, queries, k, 0, (mode,), query_pks=within, restrict_to=within, spaces=spaces))
    return {name: round(v, 4) for name, v in r.scores[mode].items()} | {"queries": r.queries}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fashion", type=Path, required=True)
    ap.add_argument("--hm", type=Path, required=True)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    out: dict = {}
    fashion = engine_for(args.fashion)
    test = split_pks(fashion, "test")
    q = args.queries
    for space in ("vit", "text"):  # text: MiniLM over product texts (sees the title itself: a ceiling)
        out[f"fashion text->image exact R@1 [{space}]"] = run(fashion, "exact", "text", space, 1, test, q)["R@1"]
        out[f"fashion text->image exact R@10 [{space}]"] = run(fashion, "exact", "text", space, 10, test, q)["R@10"]
        out[f"fashion text->image articleType P@10 [{space}]"] = run(fashion, "articleType", "text", space, 10,
                                                                       test, q)["P@10"]
    for space in ("vit", "image", "vit+image"):  # image: pooled EfficientNet-Lite0; vit+image: both, fused
        r = run(fashion, "articleType", "image", space, 10, test, q)
        out[f"fashion image->image articleType P@10 [{space}]"] = r["P@10"]
        out[f"fashion image->image articleType NDCG@10 [{space}]"] = r["NDCG@10"]
    hm = engine_for(args.hm)
    hm_test = split_pks(hm, "test", group_by="product_code")
    for space in ("vit", "image", "vit+image"):
        r = run(hm, "product_code", "image", space, 1, hm_test, q)
        out[f"hm same-design hit@1 (P@1) [{space}]"] = r["P@1"]
        out[f"hm same-design R@1 [{space}]"] = r["R@1"]
    out["test products"] = {"fashion": len(test), "hm": len(hm_test)}
    write_json(args.json, {"benchmark": "eval-vit", "figures": out})


if __name__ == "__main__":
    main()
