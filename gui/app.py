"""Starting the application."""
from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import QStandardPaths
from PySide6.QtWidgets import QApplication


def data_dir() -> Path:
    path = Path(QStandardPaths.writableLocation(QStandardPaths.AppDataLocation))
    path.mkdir(parents=True, exist_ok=True)
    return path


def dark_palette():
    from PySide6.QtGui import QColor, QPalette

    p = QPalette()
    for role, colour in ((QPalette.Window, "#2b2b2e"), (QPalette.WindowText, "#e6e6e6"), (QPalette.Base, "#1f1f22"),
                         (QPalette.AlternateBase, "#2b2b2e"), (QPalette.Text, "#e6e6e6"), (QPalette.Button, "#353538"),
                         (QPalette.ButtonText, "#e6e6e6"), (QPalette.Highlight, "#3d7bd9"),
                         (QPalette.HighlightedText, "#ffffff"), (QPalette.ToolTipBase, "#353538"),
                         (QPalette.ToolTipText, "#e6e6e6"), (QPalette.PlaceholderText, "#9a9a9a"),
                         (QPalette.Mid, "#555558"), (QPalette.Link, "#6aa6ff")):
        p.setColor(role, QColor(colour))
    # greyed when disabled (a disabled "Cancel import" or "Import" looked like one to press)
    for role, colour in ((QPalette.WindowText, "#808084"), (QPalette.Text, "#808084"),
                         (QPalette.ButtonText, "#808084"), (QPalette.Button, "#2e2e31"), (QPalette.Base, "#262629")):
        p.setColor(QPalette.Disabled, role, QColor(colour))
    return p


def visible_checks_style(base: str):
    """``base`` (a style name, e.g. Fusion) whose check boxes keep a visible border on a dark palette: Fusion draws
    it in the window colour darkened, which on the dark palette is the base colour itself (the unchecked filter
    columns of the import dialog could not be seen)."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QPalette, QPen
    from PySide6.QtWidgets import QProxyStyle, QStyle

    checks = (QStyle.PE_IndicatorCheckBox, QStyle.PE_IndicatorItemViewItemCheck)

    class VisibleChecks(QProxyStyle):
        def drawPrimitive(self, element, option, painter, widget=None):
            super().drawPrimitive(element, option, painter, widget)
            if element in checks and option.palette.color(QPalette.Window).lightness() < 128:
                painter.save()
                painter.setPen(QPen(option.palette.color(QPalette.PlaceholderText), 1))
                painter.setBrush(Qt.NoBrush)
                painter.drawRect(option.rect.adjusted(0, 0, -1, -1))
                painter.restore()

    return VisibleChecks(base)


def apply_theme(app: QApplication, theme: str) -> None:
    """'system' follows the desktop's colour scheme (and its changes); 'light'/'dark' force one.

    Fusion's palette is set explicitly, so dark mode also works where the platform theme cannot
    switch it (plain X11 sessions, Xvfb); its check boxes get a border that shows on the dark one."""
    from PySide6.QtCore import Qt

    fusion = app.property("visibleChecks") is not None or app.style().objectName().lower() == "fusion"
    hints = app.styleHints()

    def apply(*_args) -> None:
        scheme = hints.colorScheme() if theme == "system" else (
            Qt.ColorScheme.Dark if theme == "dark" else Qt.ColorScheme.Light)
        dark = scheme == Qt.ColorScheme.Dark
        # the check-box border only while dark: every primitive painted goes through it (1.7-2.7x slower painting)
        if fusion and dark != bool(app.property("visibleChecks")):
            app.setStyle(visible_checks_style("Fusion") if dark else "Fusion")
        if fusion:
            app.setProperty("visibleChecks", dark)
        app.setPalette(dark_palette() if dark else app.style().standardPalette())

    apply()
    if theme == "system":
        hints.colorSchemeChanged.connect(apply)


def missing_window_libraries(env=os.environ) -> list[str]:
    """The system libraries Qt's X11 plugin needs and this Linux machine lacks (Qt then aborts with a message
    naming only libxcb-cursor0, whatever is missing); empty where Qt will not load that plugin."""
    if not sys.platform.startswith("linux"):
        return []
    requested = env.get("QT_QPA_PLATFORM", "")
    if requested.split(":")[0] not in ("", "xcb") or (not requested and env.get("WAYLAND_DISPLAY")):
        return []
    import PySide6

    plugin = Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    ldd = shutil.which("ldd")
    if not plugin.exists() or ldd is None:
        return []
    try:
        out = subprocess.run([ldd, str(plugin)], capture_output=True, text=True, timeout=20, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return not_found(out)


def not_found(ldd_output: str) -> list[str]:
    """The libraries ``ldd`` reports as not found, each once, in its order."""
    return list(dict.fromkeys(re.findall(r"^\s*(\S+) => not found", ldd_output, re.MULTILINE)))


def debian_package(soname: str) -> str:
    """Debian's package name for a library: libxcb-icccm.so.4 -> libxcb-icccm4, libxkbcommon-x11.so.0 ->
    libxkbcommon-x11-0 (a dash where the name ends in a digit)."""
    name, _, version = soname.partition(".so.")
    version = version.split(".")[0]
    return f"{name}{'-' if name[-1:].isdigit() else ''}{version}" if version else name


def missing_libraries_message(sonames: list[str]) -> str:
    return (f"Vitrina cannot open its window: Qt's X11 plugin needs {', '.join(sonames)}, which this machine "
            "lacks. Install them (Debian, Ubuntu: sudo apt install "
            f"{' '.join(debian_package(s) for s in sonames)}) and start Vitrina again. The command line "
            "(vitrina --help) works without them.")


def run_app(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="vitrina")
    parser.add_argument("catalog", nargs="?", type=Path, help="catalog to open (default: the demo catalog)")
    parser.add_argument("--demo", action="store_true", help="open the bundled demo catalog")
    parser.add_argument("--theme", choices=("system", "light", "dark"), default="system",
                        help="colour scheme (default: follow the system)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)  # its CPU-feature probing reads like errors
    if QApplication.instance() is None:
        missing = missing_window_libraries()
        if missing:
            print(missing_libraries_message(missing), file=sys.stderr)
            return 1
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Vitrina")
    app.setOrganizationName("Vitrina")
    app.setStyle("Fusion")  # follows the system's light or dark colour scheme
    apply_theme(app, args.theme)
    from gui import crash_dialog
    from gui.main_window import MainWindow

    crash_dialog.install()

    demo = args.catalog is None
    window = MainWindow(args.catalog or data_dir() / "demo.vitrina", demo)
    window.show()
    return app.exec()
