"""Starting the window on a Linux machine that lacks a library Qt's X11 plugin needs: a clear message
naming the packages, not Qt's abort (which names libxcb-cursor0 whatever is missing); and the crash dialog
the app installs for what goes wrong once it runs."""
import sys

import pytest

from gui import app, crash_dialog

LDD = """\tlinux-vdso.so.1 (0x00007ffd)
\tlibQt6XcbQpa.so.6 => /x/Qt/lib/libQt6XcbQpa.so.6 (0x00007f1)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxkbcommon-x11.so.0 => not found
\tlibxcb-icccm.so.4 => not found
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f2)
"""


def test_the_missing_libraries_are_read_from_ldd_and_named_as_debian_packages():
    missing = app.not_found(LDD)
    assert missing == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxkbcommon-x11.so.0"]
    assert [app.debian_package(s) for s in missing] == ["libxcb-icccm4", "libxcb-keysyms1", "libxkbcommon-x11-0"]
    assert app.debian_package("libxcb-cursor.so.0.0.0") == "libxcb-cursor0"
    message = app.missing_libraries_message(missing)
    assert "sudo apt install libxcb-icccm4 libxcb-keysyms1 libxkbcommon-x11-0" in message
    assert app.not_found("\tlibc.so.6 => /lib/libc.so.6 (0x1)\n") == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Qt's X11 plugin is Linux's")
def test_only_the_x11_plugin_is_checked(monkeypatch):
    def no_ldd(*args, **kwargs):
        raise AssertionError("ldd must not run")

    monkeypatch.setattr(app.subprocess, "run", no_ldd)
    assert app.missing_window_libraries({"QT_QPA_PLATFORM": "offscreen"}) == []
    assert app.missing_window_libraries({"WAYLAND_DISPLAY": "wayland-0"}) == []  # Qt picks Wayland there
    monkeypatch.undo()
    checked = []

    class Done:
        stdout = LDD

    def fake_ldd(cmd, **kwargs):
        checked.append(cmd)
        return Done()

    monkeypatch.setattr(app.subprocess, "run", fake_ldd)
    monkeypatch.setattr(app.shutil, "which", lambda name: "/usr/bin/ldd")
    assert app.missing_window_libraries({"QT_QPA_PLATFORM": "xcb"}) == app.not_found(LDD)
    assert checked and checked[0][1].endswith("libqxcb.so")


def test_the_app_says_what_to_install_instead_of_aborting(monkeypatch, capsys):
    class NoApp:
        @staticmethod
        def instance():
            return None

        def __init__(self, *args):
            raise AssertionError("Qt would abort here")

    monkeypatch.setattr(app, "QApplication", NoApp)
    monkeypatch.setattr(app, "missing_window_libraries", lambda: ["libxcb-icccm.so.4"])
    assert app.run_app([]) == 1
    err = capsys.readouterr().err
    assert "cannot open its window" in err and "sudo apt install libxcb-icccm4" in err


def test_the_crash_box_says_what_is_on_screen_and_its_button_copies_the_report(qtbot, monkeypatch):
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QMessageBox

    shown = []
    monkeypatch.setattr(QMessageBox, "exec", lambda box: shown.append(box))
    try:
        raise ValueError("boom")
    except ValueError as exc:
        crash_dialog.show_crash(type(exc), exc, exc.__traceback__)
    box = shown[0]
    qtbot.addWidget(box)
    box.show()
    report = box.detailedText()
    assert "ValueError: boom" in report and report.startswith("Vitrina ")
    assert "below" not in box.text()  # the report is behind a button, not below
    said = [b.text() for b in box.buttons() if b.text() in box.text()]
    assert said == ["Show Details...", "Copy report"]
    QGuiApplication.clipboard().clear()
    next(b for b in box.buttons() if b.text() == "Copy report").click()
    assert QGuiApplication.clipboard().text() == report
    assert box.isVisible()  # copying does not close it


def test_the_dark_theme_greys_what_is_disabled():
    from PySide6.QtGui import QPalette

    from gui.app import dark_palette

    p = dark_palette()
    for role in (QPalette.ButtonText, QPalette.Text, QPalette.WindowText):
        enabled, disabled = p.color(QPalette.Active, role), p.color(QPalette.Disabled, role)
        assert disabled.lightness() < enabled.lightness() - 60  # a disabled button does not look pressable


@pytest.mark.parametrize("make", ["box", "item"])
def test_an_unchecked_box_has_a_border_that_shows_on_the_dark_theme(qtbot, make):
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QCheckBox, QListWidget, QListWidgetItem

    from gui.app import dark_palette, visible_checks_style

    def border_contrast(style) -> int:
        if make == "box":
            widget = QCheckBox("")
        else:
            widget = QListWidget()
            item = QListWidgetItem("")
            item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
            item.setCheckState(Qt.Unchecked)
            widget.addItem(item)
        qtbot.addWidget(widget)
        widget.setStyle(style)
        widget.setPalette(dark_palette())
        widget.resize(80, 40)
        image = widget.grab().toImage()
        base = dark_palette().color(widget.backgroundRole()).lightness()
        return max(abs(image.pixelColor(x, y).lightness() - base) for x in range(24) for y in range(20))

    from PySide6.QtWidgets import QStyleFactory

    plain, outlined = QStyleFactory.create("Fusion"), visible_checks_style("Fusion")
    assert border_contrast(plain) < 30  # Fusion's border is (nearly) the background itself on the dark palette
    assert border_contrast(outlined) > 60


def test_the_check_box_border_style_is_used_only_with_the_dark_palette(qapp):
    from gui.app import apply_theme

    before = qapp.style().objectName()
    qapp.setStyle("Fusion")
    try:
        apply_theme(qapp, "dark")
        assert type(qapp.style()).__name__ == "VisibleChecks"
        apply_theme(qapp, "light")  # every primitive went through Python in the light theme too: slower painting
        assert type(qapp.style()).__name__ != "VisibleChecks" and qapp.style().objectName().lower() == "fusion"
    finally:
        qapp.setStyle(before)
        qapp.setProperty("visibleChecks", None)
