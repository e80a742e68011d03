"""A crash dialog with a copyable report, installed as the excepthook of the GUI process."""
from __future__ import annotations

import logging
import platform
import sys
import traceback

from PySide6.QtCore import QThread, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QMessageBox

log = logging.getLogger(__name__)


def crash_report(exc_type, exc, tb) -> str:
    from core import __version__

    return (f"Vitrina {__version__} on Python {platform.python_version()} ({platform.platform()})\n\n"
            + "".join(traceback.format_exception(exc_type, exc, tb)))


def show_crash(exc_type, exc, tb) -> None:
    report = crash_report(exc_type, exc, tb)
    log.error("unexpected error\n%s", report)
    app = QApplication.instance()
    if app is None:
        sys.__excepthook__(exc_type, exc, tb)
        return
    if QThread.currentThread() is not app.thread():  # a worker's: a dialog there blocked that thread for good (at
        # Quit, with the GUI thread waiting for it); the GUI thread shows it, if its event loop still runs
        QTimer.singleShot(0, app, lambda: crash_box(report).exec())
        return
    crash_box(report).exec()


def crash_box(report: str) -> QMessageBox:
    """The message, with the report behind Show Details... and a button that copies it (and leaves the box open)."""
    box = QMessageBox(QMessageBox.Critical, "Vitrina", "")
    box.setDetailedText(report)
    details = box.buttons()[0].text()  # Qt's own button, as it reads on screen ("Show Details...")
    box.setText("Something went wrong. Your catalog is safe: every change is saved in a transaction.\n"
                "If you want to send us the report, press Copy report and paste it into your message "
                f"({details} shows what it holds).")
    copy = box.addButton("Copy report", QMessageBox.ActionRole)  # the box's own button: it outlives this function
    copy.clicked.disconnect()  # copying leaves the box open
    copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(report))
    box.addButton(QMessageBox.Close)
    return box


def install() -> None:
    sys.excepthook = show_crash
