"""Learning "Goes with" from the app: which column names a design, progress, Cancel, what was learned."""
from types import SimpleNamespace

from PySide6.QtWidgets import QMessageBox

from core.complement_model import ComplementModel, model_path
from gui.goes_with_dialog import GoesWithDialog
from tests.test_complements import shop
from tests.test_gui import fake_models, open_window, settings, wait_idle  # noqa: F401  (fixtures)


def designs(tmp_path):
    cat, kinds = shop(tmp_path)
    with cat.transaction():
        for pk in kinds:  # two colours a design
            cat.execute("INSERT INTO attributes (pk, key, value) VALUES (?,?,?)", (pk, "product_code", f"c{pk // 2}"))
    return cat


def test_learns_with_a_designs_variants_kept_together_and_says_what_it_learned(qtbot, tmp_path):
    cat = designs(tmp_path)
    with cat.transaction():
        for pk in cat.all_pks():
            cat.execute("INSERT INTO attributes (pk, key, value) VALUES (?,?,?)", (int(pk), "section", f"s{pk % 3}"))
    dialog = GoesWithDialog(SimpleNamespace(catalog=cat))
    qtbot.addWidget(dialog)
    assert dialog.design.currentData() == "product_code"  # found in the catalog, and changeable
    # not offered: a column of a few values (a section) and a category field
    assert [dialog.design.itemData(i) for i in range(dialog.design.count())] == [None, "product_code"]
    assert dialog.current.text() == "" and f"{cat.copurchase_count():,} co-purchase pairs" in dialog.text.text()
    seen = []
    dialog.percent.connect(seen.append)
    with qtbot.waitSignal(dialog.learned, timeout=120000) as learned:
        dialog.start()
        assert not dialog.design.isEnabled() and dialog.cancel_button.isEnabled()
    model = learned.args[0]
    assert model.info["split"] == {"group_by": "product_code", "seed": 0}
    assert ComplementModel.load(model_path(cat)).info["split"]["group_by"] == "product_code"
    assert dialog.status.text().startswith(f"Learned from {model.info['pairs']:,} co-purchase pairs in 0 min")
    # the same count as it announced: a pair stored both ways is one pair
    assert f"{model.info['pairs']:,} co-purchase pairs" in dialog.text.text()
    assert len(cat.copurchase_pairs()) > model.info["pairs"]
    assert dialog.status.toolTip() == f"Ranker: {model.info['ranker']}, fitted on the held-out pairs of " \
        f"{model.info['ranker_fit_on']} products."
    assert model.info["ranker_fit_on"] != "training"  # never pairs its first stage learned from, called held out
    qtbot.waitUntil(lambda: dialog.start_button.isEnabled() and not dialog.running, timeout=5000)
    assert dialog.design.isEnabled() and not dialog.cancel_button.isEnabled()
    assert seen[-2:] == [100, -1] and seen[:-1] == sorted(seen[:-1]) and len(set(seen)) > 10  # then: stopped

    again = GoesWithDialog(SimpleNamespace(catalog=cat))  # a model is in use: it says since when, and
    qtbot.addWidget(again)  # a cancelled learning keeps it
    assert again.current.text().startswith("The model learned on ")
    saved = model_path(cat).read_bytes()
    again.design.setCurrentIndex(again.design.findData(None))
    again.start()
    again.cancel()
    qtbot.waitUntil(lambda: not again.running, timeout=60000)
    assert again.status.text() == "Cancelled: nothing was saved; the model learned before (if any) stays."
    assert model_path(cat).read_bytes() == saved
    cat.close()


def test_the_window_opens_it_only_where_there_are_pairs_to_learn_from(qtbot, engine, settings):  # noqa: F811
    window = open_window(qtbot, engine.catalog.path, settings)
    wait_idle(qtbot, window)
    action = next(a for a in window.menuBar().actions()[0].menu().actions() if "Goes with" in a.text())
    action.trigger()
    qtbot.waitUntil(lambda: window.findChild(QMessageBox) is not None, timeout=5000)
    assert "no co-purchase pairs to learn from" in window.findChild(QMessageBox).text()
    assert window.goes_with_dialog is None
    cat = window.engine.catalog
    a, b = cat.all_pks()[:2]
    with cat.transaction():
        cat.add_copurchases([(a, b, 1.0)])
    action.trigger()
    dialog = window.goes_with_dialog
    assert dialog is not None and dialog.isVisible() and dialog.engine is window.engine
    assert dialog.design.currentData() is None  # the fixture has no column that names a design
    dialog.close()
    action.trigger()  # the same dialog again
    assert window.goes_with_dialog is dialog and dialog.isVisible()
    # closed while it learns, the status bar says how far it is, and a click shows it again
    assert window.learning_label.isHidden()
    dialog.close()
    dialog.percent.emit(40)
    assert not window.learning_label.isHidden() and "Learning \"Goes with\": 40 %" in window.learning_label.text()
    window.learning_label.linkActivated.emit("#")
    assert dialog.isVisible()
    dialog.percent.emit(-1)
    assert window.learning_label.isHidden()


def test_a_failure_with_the_dialog_closed_is_said_and_a_reopened_catalog_takes_what_was_learned(
        qtbot, engine, settings, monkeypatch):  # noqa: F811
    from core.errors import AppError

    window = open_window(qtbot, engine.catalog.path, settings)
    wait_idle(qtbot, window)
    cat = window.engine.catalog
    a, b = cat.all_pks()[:2]
    with cat.transaction():
        cat.add_copurchases([(a, b, 1.0)])

    def fails(engine, group_by=None, *, emit, cancelled):
        raise AppError("The image spaces need product photos; if the products have them, run `vitrina index`.")

    monkeypatch.setattr("core.complement_training.train_complements",
                        lambda *a, **kw: fails(None, emit=None, cancelled=None))
    window.train_goes_with()
    dialog = window.goes_with_dialog
    assert dialog.start_button.isDefault()  # Enter starts; it closed the dialog
    dialog.start()
    dialog.close()  # learning goes on unseen: its failure was said nowhere but in the hidden dialog
    qtbot.waitUntil(lambda: window.findChild(QMessageBox) is not None, timeout=10000)
    text = window.findChild(QMessageBox).text()
    assert text.startswith("Learning \"Goes with\" stopped: ") and "use File > Re-index" in text
    assert "vitrina index" not in text and "use File > Re-index" in dialog.status.text()
    window.findChild(QMessageBox).close()

    learned = SimpleNamespace(info={"pairs": 7})
    window.open_catalog(cat.path)  # the same catalog again (a new engine) while it learned
    wait_idle(qtbot, window)
    assert window.engine is not dialog.engine
    dialog.learned.emit(learned)
    assert "learned from 7 co-purchase pairs" in window.statusBar().currentMessage()  # it was ignored


def test_the_dialog_s_text_is_whole_at_its_smallest(qtbot, tmp_path):
    cat = designs(tmp_path)
    dialog = GoesWithDialog(SimpleNamespace(catalog=cat))
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.resize(1, 1)
    qtbot.waitUntil(lambda: dialog.width() <= 600)
    assert dialog.text.height() >= dialog.text.heightForWidth(dialog.text.width())  # cut off, over the row below
    assert dialog.text.geometry().bottom() < dialog.design.geometry().top() + dialog.design.parentWidget().y() + 1
    cat.close()
