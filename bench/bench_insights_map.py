"""What the Insights tab costs the GUI thread: drawing the map (a point per product, thumbnails for the
first few thousand), colouring it by a category field, outlining results and marking the query.
The clusters and the map coordinates are computed first (a worker does that in the app) and are not timed.

    QT_QPA_PLATFORM=offscreen python bench/bench_insights_map.py /tmp/vb/hm.vitrina --json out/insights-map.json
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from common import peak_rss_mb, write_json


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("catalog", type=Path)
    ap.add_argument("--method", default="kmeans", choices=("kmeans", "hdbscan"))
    ap.add_argument("--map", default="pca", choices=("pca", "tsne"))
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from gui import backend
    from gui.insights_panel import InsightsPanel

    app = QApplication([])
    t = time.perf_counter()
    data = backend.insights(args.catalog, args.method, args.map, emit=lambda p: None, cancelled=lambda: False)
    prepare = time.perf_counter() - t
    panel = InsightsPanel()
    panel.resize(900, 700)
    panel.show()
    figures = {}
    for name, run in (("draw the map", lambda: panel.show_insights(data)),
                      ("draw it again", lambda: panel.show_insights(data)),
                      ("colour by a field", lambda: panel.colour_by.setCurrentIndex(1)),
                      ("outline 200 results, mark the query",
                       lambda: panel.show_results([(int(p), 1.0 - i / 200) for i, p in enumerate(data.pks[:200])])),
                      ("repaint the whole map", lambda: panel.map.viewport().repaint()),
                      ("zoom in 1.25 x, repaint",
                       lambda: (panel.map.scale(1.25, 1.25), panel.map.viewport().repaint())),
                      ("zoom out, repaint", lambda: (panel.map.scale(0.8, 0.8), panel.map.viewport().repaint()))):
        t = time.perf_counter()
        run()
        app.processEvents()  # the first paint is part of what the user waits for
        figures[name] = round(time.perf_counter() - t, 3)
        print(name, figures[name], flush=True)
    write_json(args.json, {"benchmark": "insights map", "catalog": str(args.catalog), "products": len(data.pks),
                           "thumbnails": len(data.thumbnails), "clustering": data.clustering.summary(),
                           "worker: read or compute clusters, map, thumbnails (s)": round(prepare, 2),
                           "gui thread (s)": figures, "peak_rss_mb": round(peak_rss_mb())})


if __name__ == "__main__":
    main()
