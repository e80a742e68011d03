import numpy as np
from PIL import Image

from explain.explainer import MatchExplanation
from explain.faithfulness import Curves
from explain.rationale import Rationale
from explain.types import Explanation
from gui.details_panel import DetailsPanel


def fake_explanation():
    grid = np.zeros((14, 14), np.float32)
    grid[:4, :4] = 1
    maps = {m: Explanation(m, "id", "t", grid) for m in ("gradient-weighted attention", "attention rollout",
                                                         "grad-cam cnn", "grad-cam vit")}
    x = np.linspace(0, 1, 17)
    curves = {m: Curves(x, 1 - x, x, 1 - x / 2, x / 2) for m in maps}
    match = Explanation("match map", "id", "t", grid, extras={"query_map": grid, "pairs": []})
    words = {"title": Explanation("ig", "id", "t", np.array([0.2, 0.8]), tokens=("navy", "<b>shirt</b>"))}
    return MatchExplanation(0.7, maps, maps, match, words, curves)


def test_shows_heatmaps_words_curves_and_switches_method(qtbot):
    panel = DetailsPanel()
    qtbot.addWidget(panel)
    panel.resize(600, 800)
    photo = Image.new("RGB", (224, 224), "white")
    panel.show_match("Navy shirt", photo, photo, fake_explanation())
    assert "&lt;b&gt;shirt" in panel.words.text() and "Faithfulness" in panel.faithfulness.text()
    first = panel.result_view.pixmap().toImage()
    panel.opacity.setValue(0)
    assert panel.result_view.pixmap().toImage() != first  # the heatmap is what changed
    with qtbot.waitSignal(panel.method_changed):
        panel.method.setCurrentText("match map")
    assert panel.faithfulness.text() == ""  # no curves for the match map
    text_query = fake_explanation()
    text_query.match = None  # a text query: no query photo to pair regions with
    panel.show_match("Navy shirt", None, photo, text_query)
    assert "needs a photo on both sides" in panel.faithfulness.text()  # the bare photo says why it is bare
    assert not panel.opacity.isEnabled()  # no heatmap drawn: nothing for the opacity to blend
    panel.method.setCurrentText("grad-cam vit")
    assert panel.opacity.isEnabled()
    weighed_nothing = fake_explanation()
    weighed_nothing.match, weighed_nothing.query_maps = None, {}  # a photo with words, the slider at "text"
    panel.show_match("Navy shirt", photo, photo, weighed_nothing)
    panel.method.setCurrentText("match map")
    assert "photo counted for nothing" in panel.faithfulness.text() and "both sides" not in panel.faithfulness.text()


def test_a_title_of_100000_characters_is_cut_and_the_photos_stay_in_sight(qtbot):
    panel = DetailsPanel()
    qtbot.addWidget(panel)
    panel.resize(600, 800)
    panel.show()
    photo = Image.new("RGB", (224, 224), "white")
    title = "Navy shirt " * 9_000
    panel.show_match(title, photo, photo, fake_explanation())
    qtbot.waitUntil(lambda: panel.result_view.isVisible())
    assert len(panel.title.text()) == 300 and panel.title.text().endswith("…") and panel.title.toolTip() == title
    assert panel.title.height() < 400  # it was 15,568 px tall, the photo below it at 15,603
    panel.show_match("Navy shirt", photo, photo, fake_explanation())
    assert panel.title.text() == "Navy shirt" and panel.title.toolTip() == ""


def test_a_faithfulness_that_cannot_be_measured_says_so(qtbot):
    panel = DetailsPanel()
    qtbot.addWidget(panel)
    m = fake_explanation()
    x = np.linspace(0, 1, 17)
    flat = 0.6 - 0.005 * x  # blurring the whole photo moves the score by 0.005
    m.faithfulness = {k: Curves(x, flat, flat[::-1], flat, flat[::-1]) for k in m.faithfulness}
    photo = Image.new("RGB", (224, 224), "white")
    panel.show_match("Navy shirt", photo, photo, m)
    assert "not measurable" in panel.faithfulness.text() and "0.005" in panel.faithfulness.text()
    x5 = np.linspace(0, 1, 5)
    noisy = Curves(x5, np.array([0.50, 0.35, 0.40, 0.45, 0.47]), np.array([0.47, 0.65, 0.70, 0.66, 0.50]),
                   np.array([0.50, 0.52, 0.55, 0.50, 0.47]), np.array([0.47, 0.50, 0.55, 0.52, 0.50]))
    worse = Curves(x5, np.array([1.0, 0.8, 0.6, 0.4, 0.2]), np.array([0.2, 0.2, 0.2, 0.3, 1.0]),
                   np.array([1.0, 0.85, 0.65, 0.45, 0.2]), np.array([0.2, 0.45, 0.65, 0.85, 1.0]))
    near = Curves(x5, np.array([1.0, 0.8, 0.6, 0.4, 0.2]), np.array([0.2, 0.4, 0.6, 0.8, 1.0]),  # deletion a bit
                  np.array([1.0, 0.85, 0.65, 0.45, 0.2]), np.array([0.2, 0.4, 0.6, 0.8, 1.0]))  # below random's
    for curves, said in ((noisy, "not measurable (blurring parts of the photo moves the score more than blurring "
                                 "all of it, 0.030)"), (worse, "-0.17 (worse than random)"),
                        (near, "+0.02 (about as good as random)")):
        m.faithfulness = {k: curves for k in m.faithfulness}
        panel.show_match("Navy shirt", photo, photo, m)
        assert panel.faithfulness.text() == f"Faithfulness of this heatmap: {said}"


def test_rationale_streams_resets_and_shows_its_kind(qtbot):
    panel = DetailsPanel()
    qtbot.addWidget(panel)
    panel.start_rationale()
    for piece in ("Recommended ", "because"):
        panel.add_rationale_text(piece)
    assert panel.rationale.text() == "Recommended because"
    panel.add_rationale_text("\x00reset")
    assert panel.rationale.text() == ""
    panel.finish_rationale(Rationale("Recommended because both are navy.", "template", reason="model missing"))
    assert "facts alone" in panel.badge.text() and "model missing" in panel.badge.text()
    panel.finish_rationale(Rationale("Both navy.", "model"))
    assert "language model" in panel.badge.text()
    panel.clear("Select a result")
    assert panel.title.text() == "Select a result" and panel.rationale.text() == ""


def test_with_nothing_explained_only_the_message_shows_and_a_product_alone_shows_what_it_is(qtbot):
    panel = DetailsPanel()
    qtbot.addWidget(panel)
    panel.show()
    parts = (panel.controls, panel.curves, panel.badge_row, panel.result_view, panel.query_view)
    assert not any(w.isVisible() for w in parts)  # no empty frames, controls or "no curves yet"
    panel.clear("Explaining…", explaining=True)
    assert panel.controls.isVisible() and not panel.curves.isVisible()
    photo = Image.new("RGB", (120, 160), "navy")
    panel.show_product("Navy shirt — type a description", photo, "<b>Colour:</b> Navy")
    assert panel.result_view.isVisible() and not panel.query_view.isVisible() and not panel.controls.isVisible()
    assert "Navy" in panel.words.text() and not panel.result_view.pixmap().isNull()


def test_the_menu_offers_every_view_the_explainer_draws(qtbot):
    from explain.explainer import VIEWS

    panel = DetailsPanel()
    qtbot.addWidget(panel)
    offered = [panel.method.itemText(i) for i in range(panel.method.count())]
    assert sorted(offered) == sorted(VIEWS) and offered[0] == "grad-cam vit"  # the most faithful first


def test_words_the_text_model_does_not_read_are_said_beside_the_highlights(qtbot):
    panel = DetailsPanel()
    qtbot.addWidget(panel)
    m = fake_explanation()
    m.words["query"] = Explanation("ig", "id", "t", np.zeros(0), tokens=())  # "👗👠🔥": no word read
    m.words["description"] = Explanation("ig", "id", "t", np.array([0.1, 0.2]), tokens=("soft", "cotton"),
                                         extras={"words_total": 300})
    photo = Image.new("RGB", (224, 224), "white")
    panel.show_match("Navy shirt", photo, photo, m)
    text = panel.words.text()
    assert "<b>query:</b>  <i>(no words the text model reads (emoji" in text  # it showed "query:" and nothing
    assert "<i>(cut after 2 of 300 words: the text model reads no further)</i>" in text
    title = text.split("<b>title:</b>")[1].split("<br>")[0]
    assert "navy" in title and "<i>" not in title  # every word of it is read: no note
