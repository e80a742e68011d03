"""Adapting from the GUI: progress, and both scores shown at the end."""
from PySide6.QtCore import QThreadPool

from core.engine import Engine
from gui.adapt_dialog import AdaptDialog
from tests.test_adapt import current_small_model, shape_catalog  # noqa: F401  (fixture)


def test_adapt_dialog_shows_before_and_after(qtbot, tmp_path, current_small_model, monkeypatch):  # noqa: F811
    from core.train import TrainSettings
    from core import vit_training

    original = vit_training.adapt_to_catalog
    monkeypatch.setattr(vit_training, "adapt_to_catalog",
                        lambda cat, cancelled: original(cat, TrainSettings(epochs=1, batch_size=16), tmp_path / "w",
                                                        cancelled))
    engine = Engine(shape_catalog(tmp_path), [])
    dialog = AdaptDialog(engine, QThreadPool())
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.adapted, timeout=60000):
        dialog.start()
    assert "current" in dialog.status.text() and "adapted" in dialog.status.text()
    qtbot.waitUntil(lambda: dialog.start_button.isEnabled(), timeout=5000)


def test_adapt_dialog_is_big_enough_for_its_text_and_says_how_long_it_takes(qtbot):
    dialog = AdaptDialog(None, QThreadPool())
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    assert dialog.width() >= 480 and dialog.height() >= 240
    assert dialog.text.height() >= dialog.text.heightForWidth(dialog.text.width())  # all of the text shown
    assert "several minutes" in dialog.text.text() and "time left" in dialog.text.text()


def test_a_cancelled_adaptation_says_so_and_no_later_progress_says_otherwise(qtbot, monkeypatch):
    import threading

    from PySide6.QtCore import QThreadPool

    from core.progress import Progress
    from gui import backend
    from gui.adapt_dialog import AdaptDialog

    running = threading.Event()

    def training(engine, *, emit, cancelled):  # one epoch's line still arrives after Cancel
        emit(Progress(1, 100, "epoch 1/4 ETA 1:59"))
        running.set()
        while not cancelled():
            threading.Event().wait(0.01)
        emit(Progress(2, 100, "epoch 1/4 loss 0.958 ETA 1:04"))

    monkeypatch.setattr(backend, "adapt", training)
    dialog = AdaptDialog(None, QThreadPool())
    qtbot.addWidget(dialog)
    dialog.start()
    assert running.wait(10)
    qtbot.waitUntil(lambda: "epoch 1/4" in dialog.status.text(), timeout=5000)
    dialog.cancel()
    qtbot.waitUntil(lambda: dialog.start_button.isEnabled(), timeout=5000)
    qtbot.wait(50)
    assert dialog.status.text() == "Cancelled: the current model stays." and dialog.progress.value() <= 0
