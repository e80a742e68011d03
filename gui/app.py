"""Starting the application."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from PySide6.QtCore import QStandardPaths
from PySide6.QtWidgets import QApplication


def data_dir() -> Path:
    path = Path(QStandardPaths.writableLocation(QStandardPaths.AppDataLocation))
    path.mkdir(parents=True, exist_ok=True)
    return path


def run_app(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="vitrina")
    parser.add_argument("catalog", nargs="?", type=Path, help="catalog to open (default: the demo catalog)")
    parser.add_argument("--demo", action="store_true", help="open the bundled demo catalog")
    args = parser.parse_args([a for a in argv if a != "--demo"] + (["--demo"] if "--demo" in argv else []))
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Vitrina")
    app.setOrganizationName("Vitrina")
    app.setStyle("Fusion")  # follows the system's light or dark colour scheme
    from gui import crash_dialog
    from gui.main_window import MainWindow

    crash_dialog.install()

    demo = args.catalog is None
    window = MainWindow(args.catalog or data_dir() / "demo.vitrina", demo)
    window.show()
    return app.exec()
