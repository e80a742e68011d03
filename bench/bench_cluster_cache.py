"""How long the default KMeans clustering takes when first asked for and when read back from the catalog:
    python bench/bench_cluster_cache.py CATALOG
(the first call computes and keeps it, unless an earlier run kept it for the same vectors)."""
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from core.catalog import Catalog  # noqa: E402
from core.insights import cluster  # noqa: E402

with Catalog.open(sys.argv[1]) as cat:
    for i in range(3):
        t = time.perf_counter()
        c = cluster(cat, None, "kmeans")
        print(f"call {i + 1}: {time.perf_counter() - t:.2f} s, {len(c.clusters)} clusters")
