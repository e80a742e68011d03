"""Core benchmarks: import throughput (images/s) and query latency (p50/p95) with peak memory.

    # images embedded per second: decode, preprocess, encode, write, index (fresh catalog)
    python bench/bench_core.py ingest ../shared/data/fashion/products.csv --image-column image224 \
        --limit 2000 --json out/ingest.json
    # text and image query latency on an imported catalog (e.g. all 44k fashion products)
    python bench/bench_core.py query /tmp/vitrina-bench/fashion44k.vitrina --json out/query.json
    # "goes with" latency with a trained model (vitrina goes-with CATALOG --train): the first call
    # reads the model's evidence for the whole catalog, later ones reuse it (core.complements.GoesWith)
    python bench/bench_core.py goes-with /tmp/vb/hm.vitrina --json out/goes-with-latency.json
    # insights computed from scratch (the catalog's cache bypassed): clusters and 2-D maps
    python bench/bench_core.py insights /tmp/vb/hm.vitrina --space vit --json out/insights.json
"""
from __future__ import annotations

import argparse
import csv
import random
import shutil
import tempfile
import time
from pathlib import Path

from common import ROOT, peak_rss_mb, percentiles, write_json  # noqa: F401  (ROOT puts the repo on sys.path)

from core.catalog import Catalog
from core.engine import Engine
from core.ingest import ColumnMapping, ImportOptions, import_catalog
from core.progress import drain
from core.spaces import default_spaces, spaces_for


def bench_ingest(args) -> dict:
    work = Path(tempfile.mkdtemp(prefix="vitrina-bench-"))
    src = work / "products.csv"
    with open(args.source, encoding="utf-8") as f_in, open(src, "w", newline="", encoding="utf-8") as f_out:
        reader = csv.DictReader(f_in)
        writer = csv.DictWriter(f_out, fieldnames=reader.fieldnames)
        writer.writeheader()
        n = 0
        for row in reader:
            if row.get(args.image_column):
                writer.writerow(row)
                n += 1
                if n == args.limit:
                    break
    spaces = [s for s in default_spaces() if not args.spaces or s.name in args.spaces.split(",")]
    for s in spaces:
        s.encoder.load()  # model loading is not part of the throughput
    catalog = Catalog.create(work / "bench.vitrina")
    mapping = ColumnMapping(id="id", title="title", image=args.image_column)
    t = time.perf_counter()
    report = drain(import_catalog(catalog, src, mapping, spaces, ImportOptions(image_root=Path(args.source).parent)))
    t_import = time.perf_counter() - t
    engine = Engine(catalog, spaces)
    list(engine.load_indexes())
    total = time.perf_counter() - t
    images = len(report.embedded.get("image", []))
    catalog.close()
    shutil.rmtree(work)
    return {"benchmark": "ingest", "spaces": [s.name for s in spaces], "products": report.added, "images": images,
            "seconds": round(total, 2), "import_seconds": round(t_import, 2),
            "images_per_s": round(images / total, 1), "peak_rss_mb": round(peak_rss_mb())}


def bench_query(args) -> dict:
    catalog = Catalog.open(args.catalog)
    spaces = [s for s in spaces_for(catalog) if not args.spaces or s.name in args.spaces.split(",")]
    for s in spaces:
        getattr(s.encoder, "load", lambda: None)()
    engine = Engine(catalog, spaces)
    list(engine.load_indexes())
    from core.images import load_image
    from core.search import Query, search

    rng = random.Random(0)
    pks = rng.sample(list(engine.catalog.all_pks()), args.queries + 10)
    products = engine.catalog.products(pks)
    texts = [p.title for p in products]
    images = [load_image(Path(p.image_path)).image for p in products if p.image_path]
    timings = {}
    for name, make in (("text", lambda i: Query(text=texts[i], k=10)),
                       ("image", lambda i: Query(image=images[i], k=10)),
                       ("fused", lambda i: Query(text=texts[i], image=images[i], k=10))):
        for i in range(10):  # warm-up
            search(engine, make(i))
        samples = []
        for i in range(10, 10 + args.queries):
            t = time.perf_counter()
            search(engine, make(i))
            samples.append(time.perf_counter() - t)
        timings[name] = percentiles(samples)
    return {"benchmark": "query", "catalog": str(args.catalog), "products": len(engine.catalog),
            "spaces": list(engine.spaces),
            "index": {n: engine.indexes[n].kind for n in engine.indexes}, "latency": timings,
            "peak_rss_mb": round(peak_rss_mb())}


def bench_goes_with(args) -> dict:
    from core.complements import GoesWith, model_path

    catalog = Catalog.open(args.catalog)
    if not model_path(catalog).exists():
        raise SystemExit(f"no goes-with model beside {args.catalog}: run `vitrina goes-with CATALOG --train` first")
    pks = random.Random(0).sample(list(catalog.all_pks()), args.queries + 1)
    service = GoesWith(catalog)
    t = time.perf_counter()
    service.recommend(pks[0], 30)
    first = time.perf_counter() - t
    samples = []
    for pk in pks[1:]:
        t = time.perf_counter()
        service.recommend(pk, 30)
        samples.append(time.perf_counter() - t)
    return {"benchmark": "goes-with", "catalog": str(args.catalog), "products": len(catalog),
            "first_call_s": round(first, 3), "later_calls": percentiles(samples), "peak_rss_mb": round(peak_rss_mb())}


def bench_insights(args) -> dict:
    from core.insights import cluster, embedding_map

    catalog = Catalog.open(args.catalog)
    out = {}
    for name, run in (("kmeans", lambda: cluster(catalog, args.space, "kmeans", cache=False)),
                      ("hdbscan", lambda: cluster(catalog, args.space, "hdbscan", cache=False)),
                      ("pca map", lambda: embedding_map(catalog, args.space, "pca", cache=False)),
                      ("t-sne map", lambda: embedding_map(catalog, args.space, "tsne", cache=False))):
        t = time.perf_counter()
        result = run()
        out[name] = {"seconds": round(time.perf_counter() - t, 2)}
        if hasattr(result, "clusters"):
            out[name] |= {"clusters": len(result.clusters), "noise": round(float((result.labels < 0).mean()), 3),
                          "silhouette": result.silhouette, "davies_bouldin": result.davies_bouldin}
        print(name, out[name], flush=True)
    return {"benchmark": "insights", "catalog": str(args.catalog), "space": args.space,
            "products": len(catalog), **out, "peak_rss_mb": round(peak_rss_mb())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    p = sub.add_parser("ingest")
    p.add_argument("source", type=Path)
    p.add_argument("--image-column", default="image")
    p.add_argument("--limit", type=int, default=2000)
    p.add_argument("--spaces", help="only these spaces, comma-separated (default: all default spaces)")
    p.add_argument("--json", type=Path)
    p = sub.add_parser("query")
    p.add_argument("catalog", type=Path)
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--spaces", help="only these spaces, comma-separated (default: all of the catalog's)")
    p.add_argument("--json", type=Path)
    p = sub.add_parser("goes-with")
    p.add_argument("catalog", type=Path)
    p.add_argument("--queries", type=int, default=100)
    p.add_argument("--json", type=Path)
    p = sub.add_parser("insights")
    p.add_argument("catalog", type=Path)
    p.add_argument("--space", default="vit")
    p.add_argument("--json", type=Path)
    args = ap.parse_args()
    run = {"ingest": bench_ingest, "query": bench_query, "goes-with": bench_goes_with,
           "insights": bench_insights}[args.what]
    write_json(args.json, run(args))


if __name__ == "__main__":
    main()
