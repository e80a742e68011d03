"""Screenshots of the real window for docs/ (run under Xvfb):

    xvfb-run -s "-screen 0 1500x950x24" .venv/bin/python scripts/screenshots.py docs/img --theme light
    xvfb-run -s "-screen 0 1500x950x24" .venv/bin/python scripts/screenshots.py docs/img --theme dark
    xvfb-run -s "-screen 0 1500x950x24" .venv/bin/python scripts/screenshots.py docs/img --insights kmeans \
        --colour-by masterCategory   # then renamed docs/img/window-insights.png

Opens the demo catalog, queries with a demo photo and a text, selects the first result, waits for
its explanation and rationale, then grabs the X screen.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--theme", default="light", choices=("light", "dark"))
    ap.add_argument("--photo", default="resources/demo/images/11686.jpg")
    ap.add_argument("--text", default="striped casual shirt")
    ap.add_argument("--method", help="the heatmap to show (e.g. perturbation); default: the app's default")
    ap.add_argument("--catalog", type=Path, help="a catalog to open instead of the bundled demo")
    ap.add_argument("--goes-with", action="store_true", help="show the result's \"Goes with\" tab")
    ap.add_argument("--insights", metavar="METHOD", help="show the Insights tab with this clustering (kmeans, hdbscan)")
    ap.add_argument("--map", default="pca", choices=("pca", "tsne"), help="the Insights tab's map")
    ap.add_argument("--colour-by", help="colour the Insights map by this category field (default: by cluster)")
    args = ap.parse_args()
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    from gui.app import apply_theme, data_dir
    from gui.main_window import MainWindow

    app = QApplication(sys.argv[:1])
    app.setApplicationName("Vitrina")
    app.setStyle("Fusion")
    apply_theme(app, args.theme)
    settings = QSettings(str(args.out / "screenshot-settings.ini"), QSettings.IniFormat)
    window = MainWindow(args.catalog or data_dir() / "demo.vitrina", args.catalog is None, settings)
    window.resize(1480, 920)
    window.move(0, 0)
    window.show()
    if args.method:
        window.details.method.setCurrentText(args.method)
    args.out.mkdir(parents=True, exist_ok=True)
    state = {"phase": "open"}

    def shown_goes_with() -> bool:
        return window.results.tabs.currentWidget() is window.results.goes_with

    def step():
        busy = bool(window._workers)
        if state["phase"] == "open" and window.engine is not None and not busy:
            window.query.text.setText(args.text)
            window.query.set_image_file(str(ROOT / args.photo))
            state["phase"] = "search"
        elif state["phase"] == "search" and not busy and window.results.similar_model.rowCount():
            window.results.similar.setCurrentIndex(window.results.similar_model.index(1, 0))
            state["phase"] = "explain"
        elif state["phase"] == "explain" and not busy and window.details.explanation is not None:
            if args.goes_with and window.results.goes_with_model.rowCount():
                window.results.tabs.setCurrentWidget(window.results.goes_with)
                args.goes_with = False  # let the tab paint, then grab
            elif args.insights:
                window.results.tabs.setCurrentWidget(window.insights)
                window.compute_insights(args.insights, args.map)
                state["suffix"], args.insights = f"-insights-{args.insights}-{args.map}", None
            elif args.colour_by:
                colour_by = window.insights.colour_by
                colour_by.setCurrentIndex(colour_by.findData(args.colour_by))
                state["suffix"] += f"-{args.colour_by}"
                args.colour_by = None
            else:
                g = window.frameGeometry()
                suffix = "".join(f"-{x.replace(' ', '-')}" for x in (args.method, shown_goes_with() and "goes-with") if x)
                suffix += state.get("suffix", "")
                QGuiApplication.primaryScreen().grabWindow(0, g.x(), g.y(), g.width(), g.height()).save(
                    str(args.out / f"window-{args.theme}{suffix}.png"))
                app.quit()
                return
        QTimer.singleShot(300, step)

    QTimer.singleShot(300, step)
    QTimer.singleShot(240_000, app.quit)  # never hang a script
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
