"""Shared bits of the benchmark scripts: repo on sys.path, timing summaries, peak memory, JSON out."""
from __future__ import annotations

import json
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentiles(samples_s: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in samples_s)
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return {"p50_ms": round(q[49], 2), "p95_ms": round(q[94], 2), "n": len(ms)}


def timed(fn, *args, **kw) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn(*args, **kw)
    return time.perf_counter() - t, out


def write_json(path: Path | None, figures: dict) -> None:
    figures = {"command": " ".join(sys.argv), "machine": f"{platform.machine()} {platform.processor()}".strip(),
               **figures}
    print(json.dumps(figures, indent=2))
    if path:
        Path(path).write_text(json.dumps(figures, indent=2))
