import numpy as np
from PIL import Image

from explain.faithfulness import Curves
from explain.types import Explanation
from gui.explanation_views import CurvesWidget, PhotoView, pil_to_pixmap, words_html


def test_words_are_escaped_and_weighted():
    exp = Explanation("ig", "m", "t", np.array([0.5, -0.25]), tokens=("<script>alert(1)</script>", "blue"))
    out = words_html(exp)
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert "rgba(230,80,60,1.00)" in out and "rgba(70,130,230,0.50)" in out
    assert words_html(None) == ""


def test_curves_and_photo_render(qtbot):
    w = CurvesWidget()
    qtbot.addWidget(w)
    w.resize(300, 150)
    blank = w.grab().toImage()
    x = np.linspace(0, 1, 5)
    w.set_curves(Curves(x, 1 - x, x, 1 - x / 2, x / 2))
    drawn = w.grab().toImage()
    assert drawn != blank
    pm = pil_to_pixmap(Image.new("RGB", (30, 20), (255, 0, 0)))
    assert (pm.width(), pm.height()) == (30, 20) and pm.toImage().pixelColor(5, 5).red() == 255
    view = PhotoView()
    qtbot.addWidget(view)
    view.resize(200, 200)
    view.set_image(Image.new("RGB", (100, 50)))
    assert not view.pixmap().isNull()


def test_curve_captions_are_two_coloured_lines_below_the_plot_even_when_narrow(qtbot):
    w = CurvesWidget()
    qtbot.addWidget(w)
    w.resize(240, 150)  # the details panel at its narrowest
    x = np.linspace(0, 1, 5)
    w.set_curves(Curves(x, 1 - x, x, 1 - x / 2, x / 2))
    img = w.grab().toImage()
    line = w.fontMetrics().height()
    plot_bottom = 150 - 2 - 2 * line

    def rows_with(colour_test, top, bottom):
        return sum(any(colour_test(img.pixelColor(px, py)) for px in range(img.width())) for py in range(top, bottom))

    def reddish(c):
        return c.red() > 150 and c.green() < 130 and c.blue() < 130

    def bluish(c):
        return c.blue() > 150 and c.red() < 130

    first, second = (plot_bottom + 2, plot_bottom + line), (plot_bottom + line + 1, 150)
    assert rows_with(reddish, *first) >= 4 and rows_with(bluish, *first) == 0  # deletion, in its colour
    assert rows_with(bluish, *second) >= 4 and rows_with(reddish, *second) == 0  # insertion below it


def test_highlighted_words_are_written_in_the_colour_that_reads_best_on_their_highlight():
    from gui.explanation_views import DARK_BASE, _luminance, readable_on

    def contrast(a, b):
        hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
        return (hi + 0.05) / (lo + 0.05)

    ink = {"#111": (17, 17, 17), "#f0f0f0": (240, 240, 240)}
    assert readable_on((255, 255, 255)) == "#111" and readable_on(DARK_BASE) == "#f0f0f0"
    for base in ((255, 255, 255), DARK_BASE):
        for rgb in ((230, 80, 60), (70, 130, 230)):
            for a in np.linspace(0, 1, 21):
                bg = tuple(round(b * (1 - a) + c * a) for b, c in zip(base, rgb))
                chosen, other = ink[readable_on(bg)], ink["#f0f0f0" if readable_on(bg) == "#111" else "#111"]
                assert contrast(chosen, bg) >= contrast(other, bg) and contrast(chosen, bg) > 3.5, (base, rgb, a)
    exp = Explanation("ig", "m", "t", np.array([1.0, 0.6]), tokens=("red", "dress"))
    assert "color: #111" in words_html(exp, dark=True)  # a strong red highlight: dark ink, in dark mode too


def test_an_empty_chart_says_why_it_has_no_curves(qtbot):
    w = CurvesWidget()
    qtbot.addWidget(w)
    w.resize(300, 150)
    w.set_curves(None, "No faithfulness test for the match map")
    shown = w.grab().toImage()
    w.set_curves(None)
    assert w.grab().toImage() != shown and w.missing is None


def test_curve_captions_read_on_both_themes_in_their_curves_hues(qtbot):
    from PySide6.QtGui import QColor, QPalette
    from PySide6.QtWidgets import QApplication

    from gui.app import dark_palette
    from gui.explanation_views import CURVE_COLOURS, caption_colour, contrast, with_contrast

    light = QApplication.style().standardPalette()
    for pal in (light, dark_palette()):
        window = pal.color(QPalette.Window)
        for name, line in CURVE_COLOURS.items():
            caption = caption_colour(name, window)
            assert contrast(caption, window) >= 4.5, (window.name(), name, caption.name())
            assert abs(caption.hslHue() - line.hslHue()) <= 2 and contrast(line, window) >= 3  # the line's hue
        assert contrast(caption_colour("deletion", window), caption_colour("insertion", window)) > 1.0
        red, blue = (caption_colour(n, window) for n in ("deletion", "insertion"))
        assert red.red() > red.blue() + 80 and blue.blue() > blue.red() + 80  # still red and blue
    assert with_contrast(QColor("#111111"), QColor("white")) == QColor("#111111")  # readable already: kept
    grey = with_contrast(QColor("#999999"), QColor("white"))
    assert contrast(grey, QColor("white")) >= 4.5 and grey.saturation() == 0

    w = CurvesWidget()  # painted so, on the dark theme
    qtbot.addWidget(w)
    w.setPalette(dark_palette())
    w.resize(300, 150)
    x = np.linspace(0, 1, 5)
    w.set_curves(Curves(x, 1 - x, x, 1 - x / 2, x / 2))
    img = w.grab().toImage()
    caption = caption_colour("deletion", dark_palette().color(QPalette.Window))
    below = 150 - 2 - 2 * w.fontMetrics().height() + 2
    assert any(img.pixelColor(px, py) == caption for px in range(img.width()) for py in range(below, 150))


def test_curve_captions_give_areas_on_the_similarity_s_own_range():
    from gui.explanation_views import curve_captions

    x = np.linspace(0, 1, 5)
    # a cosine falling from 0.010 to -0.030: raw areas near zero and negative, on its range 0..1
    deletion = 0.010 - 0.040 * np.sqrt(x)
    c = Curves(x, deletion, 1.5 * deletion[::-1], 0.010 - 0.040 * x, -0.030 + 0.040 * x)
    text = curve_captions(c)
    assert text["deletion"] == "deletion AUC 0.36 (random 0.50), lower is better"
    assert text["insertion"] == "insertion AUC 0.16 (random 0.50), higher is better"
    flat = Curves(x, np.full(5, 0.2), np.full(5, 0.2), np.full(5, 0.2), np.full(5, 0.2))
    assert curve_captions(flat)["deletion"] == "deletion AUC 0.200 (random 0.200)"  # no range: the raw areas
