"""Time from launching the app to its window on screen (offscreen), models loading after that.

    python bench/bench_gui_startup.py --runs 5 --json out/gui-startup.json

With ``--catalog``: from launching the app on that catalog, with a query typed at once, to the catalog open
(the query box enabled) and to the first results.

    python bench/bench_gui_startup.py --runs 3 --catalog /tmp/vb/hm.vitrina
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from common import ROOT, percentiles, write_json

CHILD = r"""
import sys, time
sys.path.insert(0, {root!r})
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
app = QApplication([])
from gui.app import data_dir
from gui.main_window import MainWindow
w = MainWindow(data_dir() / "demo.vitrina", True)
w.show()
def shown():
    print("SHOWN", time.time(), flush=True)
    ml = [m for m in ("torch", "faiss", "llama_cpp") if m in sys.modules]
    print("ML_AT_SHOW", ml, flush=True)
    app.quit()
QTimer.singleShot(0, shown)
app.exec()
"""


OPEN = r"""
import sys, time
sys.path.insert(0, {root!r})
from pathlib import Path
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication
app = QApplication([])
from gui.main_window import MainWindow
w = MainWindow(Path({catalog!r}), False, settings=QSettings({ini!r}, QSettings.IniFormat))
w.show()
w.query.text.setText("black cotton jumper")
seen = set()
def poll():
    if "open" not in seen and w.engine is not None and w.query.isEnabled():
        seen.add("open")
        print("OPEN", time.time(), file=sys.__stdout__, flush=True)  # a model loading redirects sys.stdout
    if "open" in seen and w.results.similar_model.rowCount() and not w._workers:
        print("RESULTS", time.time(), file=sys.__stdout__, flush=True)
        app.quit()
timer = QTimer()
timer.timeout.connect(poll)
timer.start(5)
app.exec()
"""


def open_catalog(catalog: str, runs: int, env: dict) -> dict:
    import tempfile

    opened, results = [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.time()
            done = subprocess.run([sys.executable, "-c", OPEN.format(root=str(ROOT), catalog=catalog,
                                                                     ini=str(Path(tmp) / "s.ini"))],
                                  env=env, capture_output=True, text=True, timeout=300)
        times = {line.split()[0]: float(line.split()[1]) for line in done.stdout.splitlines()
                 if line.startswith(("OPEN", "RESULTS"))}
        if len(times) < 2:
            raise SystemExit(f"the app did not open {catalog} with results:\n{done.stderr[-2000:]}")
        opened.append(times["OPEN"] - t0)
        results.append(times["RESULTS"] - t0)
    return {"benchmark": "gui-open-catalog", "catalog": catalog, "catalog_open_s": percentiles(opened),
            "first_results_s": percentiles(results)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json")
    ap.add_argument("--catalog", help="time opening this catalog and its first results instead")
    args = ap.parse_args()
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    if args.catalog:
        write_json(Path(args.json) if args.json else None, open_catalog(args.catalog, args.runs, env))
        return
    samples, ml = [], None
    for _ in range(args.runs):
        t0 = time.time()
        out = subprocess.run([sys.executable, "-c", CHILD.format(root=str(ROOT))], env=env, capture_output=True,
                             text=True, timeout=120).stdout
        shown = float(next(line.split()[1] for line in out.splitlines() if line.startswith("SHOWN")))
        ml = next(line for line in out.splitlines() if line.startswith("ML_AT_SHOW"))
        samples.append(shown - t0)
    write_json(Path(args.json) if args.json else None,
               {"benchmark": "gui-startup", "window_shown_s": percentiles(samples), "ml_loaded_at_show": ml})


if __name__ == "__main__":
    main()
