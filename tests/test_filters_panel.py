from gui.filters_panel import FiltersPanel


def test_filters_state_and_reset(qtbot):
    panel = FiltersPanel()
    qtbot.addWidget(panel)
    panel.set_fields({"articleType": [("Shirts", 4), ("Shoes", 2)], "colour": [("Red", 3)]})
    assert panel.state().categories == {} and panel.state().price_max is None
    panel.combos["articleType"].setCurrentIndex(2)
    panel.price_max.setValue(40)
    panel.min_score.setValue(0.3)
    s = panel.state()
    assert s.categories == {"articleType": ("Shoes",)} and s.price_max == 40 and s.min_score == 0.3
    assert s.price_min is None and s.rating_min is None
    panel.set_fields({"gender": [("Men", 1)]})  # another catalog: old combos go away
    assert list(panel.combos) == ["gender"] and panel.state().categories == {}
    with qtbot.waitSignal(panel.changed):
        panel.reset()
    assert panel.state().price_max is None and panel.state().min_score is None
