"""Time from launching the app to its window on screen (offscreen), models loading after that.

    python bench/bench_gui_startup.py --runs 5 --json out/gui-startup.json
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json")
    args = ap.parse_args()
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
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
