"""A crash dialog with a copyable report, installed as the excepthook of the GUI process."""
from __future__ import annotations

import logging
import platform
import sys
import traceback

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QMessageBox, QPushButton

log = logging.getLogger(__name__)


def crash_report(exc_type, exc, tb) -> str:
    from core import __version__

    return (f"Vitrina {__version__} on Python {platform.python_version()} ({platform.platform()})\n\n"
            + "".join(traceback.format_exception(exc_type, exc, tb)))


def show_crash(exc_type, exc, tb) -> None:
    report = crash_report(exc_type, exc, tb)
    log.error("unexpected error\n%s", report)
    if QApplication.instance() is None:
        sys.__excepthook__(exc_type, exc, tb)
        return
    box = QMessageBox(QMessageBox.Critical, "Vitrina",
                      "Something went wrong. Your catalog is safe: every change is saved in a transaction.\n"
                      "Copy the report below if you want to send it to us.")
    box.setDetailedText(report)
    copy = QPushButton("Copy report")
    box.addButton(copy, QMessageBox.ActionRole)
    copy.clicked.disconnect()
    copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(report))
    box.addButton(QMessageBox.Close)
    box.exec()


def install() -> None:
    sys.excepthook = show_crash
