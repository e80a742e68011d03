"""The details of the selected result: query and result side by side with heatmaps, highlighted
words, the rationale as it streams in (with its grounded/template badge), and the faithfulness of
the shown heatmap with its deletion and insertion curves."""
from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (QComboBox, QGridLayout, QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget)

from explain.types import MATCH_MAP, PERTURBATION
from gui.explanation_views import CurvesWidget, PhotoView, words_html

# The first is shown by default: of the two maps that explain the similarity to this query (the others
# explain the photo's embedding, or are Grad-CAM on the CNN), the one that beats random feature
# removal most often (99.7 % against 93.0 %, docs/BENCHMARKS.md, "Explanations"); the perturbation map
# is more faithful still but takes seconds (256 model passes) and covers the result's photo only, so it
# is there to choose.
METHODS = ("grad-cam vit", "gradient-weighted attention", "attention rollout", "grad-cam cnn", PERTURBATION,
           MATCH_MAP)  # the menu's order; explain.explainer.VIEWS has the same names
TIPS = {PERTURBATION: "Blurs random sets of regions of the result's photo and measures how much each region "
                      "holds up the similarity (256 model passes: a few seconds; the query photo is not mapped)."}


class DetailsPanel(QWidget):
    method_changed = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.explanation = None
        self.pk: int | None = None  # the product explained
        self.query_image = self.result_image = None
        self.query_view, self.result_view = PhotoView(), PhotoView()
        for view in (self.query_view, self.result_view):  # side by side in a narrow column too (they scale)
            view.setMinimumWidth(130)
        self.title = QLabel(wordWrap=True, textFormat=Qt.PlainText)
        self.method = QComboBox()
        self.method.addItems(list(METHODS))
        for i, name in enumerate(METHODS):
            if name in TIPS:
                self.method.setItemData(i, self.tr(TIPS[name]), Qt.ToolTipRole)
        self.method.currentTextChanged.connect(self._method_changed)
        self.opacity = QSlider(Qt.Horizontal, minimum=0, maximum=100, value=60)
        self.opacity.valueChanged.connect(self._render)
        self.words = QLabel(wordWrap=True, textFormat=Qt.RichText)
        self.rationale = QLabel(wordWrap=True, textFormat=Qt.PlainText)
        self.badge = QLabel(wordWrap=True, textFormat=Qt.PlainText)  # a long reason wraps, not widens the window
        self.faithfulness = QLabel(wordWrap=True)
        self.curves = CurvesWidget()
        photos = QGridLayout()
        self.query_caption, self.result_caption = QLabel(self.tr("Query")), QLabel(self.tr("Result"))
        photos.addWidget(self.query_caption, 0, 0)
        photos.addWidget(self.result_caption, 0, 1)
        photos.addWidget(self.query_view, 1, 0)
        photos.addWidget(self.result_view, 1, 1)
        self.controls = QWidget()  # the heatmap's: shown with an explanation only; two rows fit a narrow column
        controls = QGridLayout(self.controls)
        controls.setContentsMargins(0, 0, 0, 0)
        controls.addWidget(QLabel(self.tr("Heatmap")), 0, 0)
        controls.addWidget(self.method, 0, 1)
        controls.addWidget(QLabel(self.tr("Opacity")), 1, 0)
        controls.addWidget(self.opacity, 1, 1)
        self.badge_row = QWidget()
        badge_row = QHBoxLayout(self.badge_row)
        badge_row.setContentsMargins(0, 0, 0, 0)
        badge_row.addWidget(QLabel(self.tr("<b>Why</b>")))
        badge_row.addWidget(self.badge, 1)  # the reason takes the row's width (it wrapped in a third of it)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addLayout(photos)
        layout.addWidget(self.controls)
        layout.addWidget(self.words)
        layout.addWidget(self.badge_row)
        layout.addWidget(self.rationale)
        layout.addWidget(self.faithfulness)
        layout.addWidget(self.curves)
        layout.addStretch(1)
        self.clear()

    def clear(self, message: str = "", explaining: bool = False) -> None:
        """Nothing explained: ``message`` alone (empty photo frames, heatmap controls and curves said nothing);
        ``explaining``: one is on its way, the heatmap menu stays (it does not jump away and back)."""
        self.explanation = None
        self.pk = None
        self.title.setText(message)
        for view in (self.query_view, self.result_view):
            view.set_image(None)
        for label in (self.words, self.rationale, self.badge, self.faithfulness):
            label.clear()
        self.curves.set_curves(None)
        self._show_parts(photos=False, explanation=False)
        self.controls.setVisible(explaining)

    def show_product(self, message: str, image, about: str) -> None:
        """A product chosen with no query to explain it against (a cluster's, a point of the map): its photo
        and ``about`` (its attributes, as HTML) under ``message``."""
        self.clear(message)
        self.result_view.set_image(image)
        self.words.setText(about)
        self._show_parts(photos=image is not None, explanation=False, query=False)

    def _show_parts(self, photos: bool, explanation: bool, query: bool = True) -> None:
        for w in (self.result_caption, self.result_view):
            w.setVisible(photos)
        for w in (self.query_caption, self.query_view):
            w.setVisible(photos and query)
        for w in (self.controls, self.badge_row, self.rationale, self.faithfulness, self.curves):
            w.setVisible(explanation)

    def show_match(self, title: str, query_image, result_image, explanation, pk: int | None = None) -> None:
        """``pk``: the product explained (what Copy copies with the rationale shown here)."""
        self.pk = pk
        from explain.facts import shortened
        from explain.report import TITLE_CHARS

        shown = shortened(title, TITLE_CHARS)  # a 100,000-character title pushed the photos and the rationale
        self.title.setText(shown)  # 15,000 pixels down, out of sight
        self.title.setToolTip(title if shown != title else "")
        self.query_image, self.result_image, self.explanation = query_image, result_image, explanation
        self._show_parts(photos=True, explanation=True, query=query_image is not None)  # a text query: no frame
        dark = self.palette().color(QPalette.Window).value() < 128
        from explain.tokens import coverage_note  # the explanation is made: its models are loaded already

        words = explanation.words

        def line(name: str) -> str:  # "query:" and nothing else, for a text of emoji: what the model read is said
            note = coverage_note(words[name])
            return f"<b>{self.tr(name)}:</b> {words_html(words[name], dark)}" + (
                f" <i>({html.escape(note)})</i>" if note else "")

        self.words.setText("<br>".join(line(name) for name in ("query", "title", "description") if name in words))
        self._render()

    def _method_changed(self, method: str) -> None:
        self._render()
        self.method_changed.emit(method)

    def _render(self) -> None:
        from explain.overlay import overlay

        m = self.explanation
        if m is None:
            return
        method, alpha = self.method.currentText(), self.opacity.value() / 100
        if method == MATCH_MAP:
            result_map = m.match
            query_map = m.match.extras["query_map"] if m.match is not None else None
        else:
            result_map, query_map = m.result_maps.get(method), m.query_maps.get(method)
        self.result_view.set_image(overlay(self.result_image, result_map, alpha) if result_map is not None
                                   and self.result_image is not None else self.result_image)
        self.query_view.set_image(overlay(self.query_image, query_map, alpha) if query_map is not None
                                  and self.query_image is not None else self.query_image)
        # the opacity blends a heatmap over a photo: with none drawn, it has nothing to change
        self.opacity.setEnabled((result_map is not None and self.result_image is not None)
                                or (query_map is not None and self.query_image is not None))
        curves = m.faithfulness.get(method)
        unmapped = method == MATCH_MAP and m.match is None  # it pairs regions of two photos
        self.curves.set_curves(curves, self.tr("No match map for this query") if unmapped
                               else self.tr("No faithfulness test for the match map") if method == MATCH_MAP
                               else self.tr("The result has no photo to test") if self.result_image is None
                               else self.tr("No curves for this map"))
        if unmapped and self.query_image is not None and self.result_image is not None:  # the slider at "text"
            self.faithfulness.setText(self.tr("The match map pairs regions of the query photo with the result's: "
                                              "the query's photo counted for nothing in this search (the "
                                              "text/photo slider is at “text”)."))
        elif unmapped:
            self.faithfulness.setText(self.tr("The match map pairs regions of the query photo with the result's: "
                                              "it needs a photo on both sides."))
        elif curves is None:
            self.faithfulness.setText("")
        elif not curves.span_measurable:
            self.faithfulness.setText(self.tr("Faithfulness of this heatmap: not measurable (blurring the whole "
                                              "photo changes the score by only %.3f)") % abs(curves.span))
        elif not curves.measurable:
            self.faithfulness.setText(self.tr("Faithfulness of this heatmap: not measurable (blurring parts of the "
                                              "photo moves the score more than blurring all of it, %.3f)")
                                      % abs(curves.span))
        else:
            self.faithfulness.setText(self.tr("Faithfulness of this heatmap: %+.2f (%s)")
                                      % (curves.faithfulness, self.tr(curves.versus_random)))

    # ---- the rationale, streamed ------------------------------------------------------------
    def start_rationale(self) -> None:
        self.rationale.setText("")
        self.badge.setText(self.tr("writing…"))

    def add_rationale_text(self, piece: str) -> None:
        if piece == "\x00reset":  # the model's text was rejected: it is being rewritten
            self.rationale.setText("")
            return
        self.rationale.setText(self.rationale.text() + piece)

    def cancel_rationale(self) -> None:
        """Cancelled while written: the half written is unchecked, not shown ("writing…" stayed under it)."""
        self.rationale.setText("")
        self.badge.setText(self.tr("cancelled: select the result again to write it"))
        self.badge.setToolTip("")

    def finish_rationale(self, rationale) -> None:
        self.rationale.setText(rationale.text)
        if rationale.kind == "model":
            self.badge.setText(self.tr("✔ written by the language model, every claim checked"))
        else:
            # plain words first, the reason after (the hover lists the model's rejected texts)
            self.badge.setText(self.tr("written from the checked facts alone — %s") % rationale.reason)
        self.badge.setToolTip("\n".join(rationale.rejected))
