"""Benchmark core.index.VectorIndex on clustered synthetic unit vectors.

Builds the exact index (IndexFlatIP) and the automatic one (IVF at/above APPROX_THRESHOLD) on the same data,
then reports build time, single-query latency p50/p95 (one query at a time, through the public API), batched
queries/s, recall@10 of the automatic index against exact search, and peak RSS.

    python bench/bench_index.py --n 100000 --json out/bench_index_100k.json

Targets (checked at the end): single-query p50 <= 30 ms at 1M vectors with recall@10 >= 0.95.
"""
from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core import runtime  # noqa: E402
from core.index import APPROX_THRESHOLD, VectorIndex  # noqa: E402

K = 10
TARGET_P50_MS, TARGET_RECALL = 30.0, 0.95


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def clustered_unit_vectors(n: int, dim: int, centres: int, spread: float, seed: int,
                           chunk: int = 100_000) -> np.ndarray:
    """Gaussian mixture around random unit centres, renormalised; generated in chunks (float32 throughout)."""
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centres, dim), dtype=np.float32)
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    out = np.empty((n, dim), np.float32)
    sigma = np.float32(spread / np.sqrt(dim))  # noise vector norm ~ spread
    for start in range(0, n, chunk):
        block = out[start:start + chunk]
        block[:] = rng.standard_normal(block.shape, dtype=np.float32)
        block *= sigma
        block += c[rng.integers(0, centres, len(block))]
        block /= np.linalg.norm(block, axis=1, keepdims=True)
    return out


def perturb(x: np.ndarray, noise: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    q = x + rng.standard_normal(x.shape, dtype=np.float32) * np.float32(noise / np.sqrt(x.shape[1]))
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def latency_ms(index: VectorIndex, queries: np.ndarray) -> dict:
    for q in queries[:5]:  # warm-up
        index.search(q, K)
    times = []
    for q in queries:
        t = time.perf_counter()
        index.search(q, K)
        times.append((time.perf_counter() - t) * 1000)
    return {"p50_ms": float(np.percentile(times, 50)), "p95_ms": float(np.percentile(times, 95)),
            "single_queries": len(times)}


def batched(index: VectorIndex, queries: np.ndarray) -> tuple[dict, np.ndarray]:
    t = time.perf_counter()
    _, ids = index.search(queries, K)
    seconds = time.perf_counter() - t
    return {"batch_qps": len(queries) / seconds, "batch_s": seconds}, ids


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    return float((found[:, :, None] == truth[:, None, :]).any(axis=2).mean())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000, help="vectors in the index")
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=1000, help="held-out perturbed query points")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--centres", type=int, default=2000, help="mixture components")
    ap.add_argument("--spread", type=float, default=1.5,
                    help="norm of the within-cluster noise before renormalising (1: trivially separable clusters)")
    ap.add_argument("--query-noise", type=float, default=0.1, help="norm of the noise added to held-out queries")
    ap.add_argument("--exact-single", type=int, default=100,
                    help="single queries timed on the exact index (it is slow at 1M)")
    ap.add_argument("--save", action="store_true", help="also time save() and load() of the automatic index")
    ap.add_argument("--json", type=Path, help="write the results here as JSON")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    threads = runtime.configure()

    res: dict = {"n": args.n, "dim": args.dim, "queries": args.queries, "seed": args.seed, "k": K,
                 "centres": args.centres, "spread": args.spread, "query_noise": args.query_noise,
                 "threads": threads, "approx_threshold": APPROX_THRESHOLD}
    t = time.perf_counter()
    data = clustered_unit_vectors(args.n + args.queries, args.dim, args.centres, args.spread, args.seed)
    x, queries = data[:args.n], perturb(data[args.n:], args.query_noise, args.seed + 1)
    ids = np.arange(args.n, dtype=np.int64) * 7 + 1000  # catalog-like ids, not row numbers
    res["generate_s"] = time.perf_counter() - t
    print(f"generated {args.n:,} x {args.dim} vectors + {args.queries} queries in {res['generate_s']:.1f} s")

    t = time.perf_counter()
    exact = VectorIndex.build(ids, x, "bench", approx_threshold=args.n + 1)
    res["exact"] = {"kind": exact.kind, "build_s": time.perf_counter() - t}
    res["exact"].update(latency_ms(exact, queries[:args.exact_single]))
    stats, truth = batched(exact, queries)
    res["exact"].update(stats)
    del exact
    print("exact:", json.dumps(res["exact"]))

    t = time.perf_counter()
    auto = VectorIndex.build(ids, x, "bench", seed=args.seed)
    m = auto.manifest
    res["auto"] = {"kind": m.kind, "build_s": time.perf_counter() - t, "nlist": m.nlist, "nprobe": m.nprobe,
                   "recall_at_10_measured_at_build": m.recall_at_10}
    res["auto"].update(latency_ms(auto, queries))
    stats, found = batched(auto, queries)
    res["auto"].update(stats)
    res["auto"]["recall_at_10"] = recall_at_k(found, truth)
    print("auto:", json.dumps(res["auto"]))

    if args.save:
        with tempfile.TemporaryDirectory() as folder:
            t = time.perf_counter()
            auto.save(Path(folder))
            res["auto"]["save_s"] = time.perf_counter() - t
            res["auto"]["file_mb"] = (Path(folder) / "index.faiss").stat().st_size / 2**20
            t = time.perf_counter()
            VectorIndex.load(Path(folder), encoder_id="bench", dim=args.dim, count=args.n)
            res["auto"]["load_s"] = time.perf_counter() - t

    res["peak_rss_mb"] = peak_rss_mb()
    res["targets"] = {"p50_ms_max": TARGET_P50_MS, "recall_at_10_min": TARGET_RECALL,
                      "met": res["auto"]["p50_ms"] <= TARGET_P50_MS and res["auto"]["recall_at_10"] >= TARGET_RECALL}
    print(f"\n{'':8}{'build s':>9}{'p50 ms':>9}{'p95 ms':>9}{'batch q/s':>11}{'recall@10':>11}")
    for name in ("exact", "auto"):
        r = res[name]
        recall = f"{r['recall_at_10']:.4f}" if "recall_at_10" in r else "1 (ref)"
        print(f"{name + ' ' + r['kind']:<12}{r['build_s']:>5.1f}{r['p50_ms']:>9.2f}{r['p95_ms']:>9.2f}"
              f"{r['batch_qps']:>11.0f}{recall:>11}")
    print(f"auto: nlist={m.nlist} nprobe={m.nprobe} build-time recall@10={m.recall_at_10}; "
          f"peak RSS {res['peak_rss_mb']:.0f} MB; targets (p50 <= {TARGET_P50_MS} ms, recall >= {TARGET_RECALL}) "
          f"{'met' if res['targets']['met'] else 'NOT met'}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
