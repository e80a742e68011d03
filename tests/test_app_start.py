"""Starting the window on a Linux machine that lacks a library Qt's X11 plugin needs: a clear message
naming the packages, not Qt's abort (which names libxcb-cursor0 whatever is missing)."""
import sys

import pytest

from gui import app

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
