"""The structured facts a rationale may use, gathered from the catalog and the explanations.

Only these facts reach the language model, and the verifier accepts no claim outside them.
Catalog text is data: it is cleaned (control characters, prompt-like markup) and truncated
before it is quoted.
"""
from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field

import numpy as np

from core.catalog import field_label
from explain.types import counted_sides, is_flat

MAX_TEXT = 160
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_MARKUP = re.compile(r"<\|?/?[a-z_]+\|?>|\[/?INST\]|###", re.IGNORECASE)

REGIONS = (("top left", "top", "top right"), ("left side", "centre", "right side"),
           ("bottom left", "bottom", "bottom right"))


def clean_text(text: str, limit: int = MAX_TEXT) -> str:
    """Catalog text made safe to quote: no control characters or chat markup, one line, bounded."""
    text = _MARKUP.sub(" ", _CONTROL.sub(" ", text or ""))
    return shortened(" ".join(text.replace('"', "'").split()), limit)


def shortened(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, the last an "…" (as it is when shorter)."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def region_of(heatmap: np.ndarray) -> str | None:
    """The named ninth of the image holding most of the heatmap's hot half (the map scaled as its overlay draws
    it, where the overlay is at least 70 % opaque: a faint spread over a third of the photo outweighed the spots
    the eye sees, and the rationale named a part of the photo the map barely tints); None for a map that draws
    nothing (a flat one: its "region" came from rounding noise, and was told as fact)."""
    h = np.nan_to_num(np.asarray(heatmap, np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = (float(h.min()), float(h.max())) if h.size else (0.0, 0.0)
    if is_flat(lo, hi):
        return None
    h = (h - lo) / (hi - lo)
    h = np.where(h >= 0.5, h, 0.0)  # explain.overlay draws a value v at an opacity of 1.4 v
    rows = np.array_split(np.arange(h.shape[0]), 3)
    cols = np.array_split(np.arange(h.shape[1]), 3)
    mass = np.array([[h[np.ix_(r, c)].sum() for c in cols] for r in rows])
    i, j = np.unravel_index(int(mass.argmax()), mass.shape)
    return REGIONS[i][j]


# Catalog values such as "Bath and Body" must not turn everyday words into claims.
STOPWORDS = {"and", "or", "the", "for", "with", "of", "in", "on", "to", "by", "at", "from", "as", "an", "a", "is",
             "are", "both", "this", "that", "its", "it", "not", "all", "one", "set"}


def word_forms(words) -> set[str]:
    """The words with their singulars and plurals, so that "shirt" meets "Shirts" and "dresses" meets "dress"."""
    out = set()
    for w in words:
        out.add(w)
        if len(w) <= 2 or not w.isascii() or not w.isalpha():  # English endings only
            continue
        if len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
            out.add(w[:-1])
            if w.endswith("es"):  # dresses, watches
                out.add(w[:-2])
            if w.endswith("ies"):  # accessories
                out.add(w[:-3] + "y")
        elif w.endswith(("s", "x", "z", "ch", "sh")):
            out.add(w + "es")
        elif w.endswith("y") and w[-2:-1] not in "aeiou":
            out.add(w[:-1] + "ies")
        else:
            out.add(w + "s")
    return out


PHOTO_QUERY = "a photo"  # the query of a search by photo alone, as the facts (and the LLM) say it
PRODUCT_QUERY = "a catalog product"  # that of a catalog product given by its attributes alone


@dataclass(frozen=True)
class Facts:
    product: str  # the recommended product's title (cleaned)
    query: str  # what the user asked: their words, or "a photo" (cleaned): only what weighed in the search
    query_photo: bool = False  # a photo weighed in the query too (besides the words in ``query``, if any)
    liked: tuple[str, ...] = ()  # titles of products liked ("more like this") that weighed in the query besides it
    shared: dict[str, str] = field(default_factory=dict)  # attribute -> value both have
    differing: dict[str, tuple[str, str]] = field(default_factory=dict)  # attribute -> (query's, product's)
    product_attributes: dict[str, str] = field(default_factory=dict)
    top_words: tuple[str, ...] = ()  # words that drove the similarity, most first
    region: str | None = None  # where the result's heatmap concentrates
    score: float | None = None  # the similarity the user sees for this result (None: none to state)
    faithfulness: float | None = None

    @property
    def fields(self) -> set[str]:
        """The attributes the facts name."""
        return {*self.shared, *self.differing, *self.product_attributes}

    def vocabulary(self) -> set[str]:
        """Every word a grounded rationale may use to assert something."""
        fields = self.fields
        texts = [self.product, self.query, *self.liked, *self.shared.values(), *self.product_attributes.values(),
                 *fields, *map(field_label, fields),  # field names too, as written and as read ("base colour")
                 *(v for pair in self.differing.values() for v in pair), *self.top_words, self.region or "",
                 *number_forms(self.score)]  # not the faithfulness: the prompt does not give it
        return {w for t in texts for w in words_of(t)}


def shown_number(x: float) -> str:
    """A score as the facts show it, to the prompt and the template alike ("0.50")."""
    return f"{x:.2f}"


def number_forms(x: float | None) -> tuple[str, ...]:
    """The ways a rationale may write a score: "0.50" as shown, "0.5" as a model rounds it (the JSON of 0.5)."""
    return () if x is None else (shown_number(x), str(float(shown_number(x))))


# Words of any script (a Cyrillic "юбка" must be checked, not skipped), and a decimal as one word: "0.5" is not
# the words "0" and "5", so a score of 0.50 cannot vouch for "5 stars".
_WORD = re.compile(r"\d+\.\d+|[^\W_]+")


def words_of(text: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


# Words after which a clause asks for what it names not to be: "not blue", "no leather", "anything except red".
NEGATING = {"not", "no", "never", "without", "except", "nor", "neither", "non", "exclude", "excludes", "excluding",
            "excluded", "avoid", "avoiding"}
# Said so, these ask for what follows not to be: "anything but blue", "other than blue", "don't want blue".
_EXCEPTING = re.compile(r"\b(?:(?:anything|everything|all|any\s+[^\W_]+)\s+but|other\s+than|rather\s+than|"
                        r"instead\s+of)\b", re.IGNORECASE)
_CONTRACTED = re.compile(r"n['’]t\b", re.IGNORECASE)


# Words that make the next one something else: "off-white" is not white, "faux leather" no leather.
QUALIFYING = {"off", "faux", "fake", "imitation"}


def value_words(text: str) -> list[str]:
    """The words of a text as an attribute is matched on them: a qualifier and the word it qualifies as one word
    ("off white" -> "offwhite"), in the query and the catalog value alike ("Off White" is the query's "off-white",
    "White" is not)."""
    words, out = words_of(text), []
    for w in words:
        if out and out[-1] in QUALIFYING:
            out[-1] += w
        else:
            out.append(w)
    return out


def asked_words(text: str) -> list[str]:
    """The words a text query asks for: a hyphenated compound with a part of a letter or two as one word
    ("t-shirt" is no "shirt", "a-line" no "line"; "navy-blue" is navy and blue), a qualified word as one word
    (``value_words``), and no word that a negation in its clause rules out, anywhere in the text ("not blue",
    "anything but blue", "neither blue nor red", "scarves that aren't blue", "other than blue": a blue result
    "shared" the colour the query excluded). A negation rules out the rest of its clause ("not blue jeans" asks
    for no jeans either): a fact left unsaid, rather than one that is false."""
    text = re.sub(r"\b(?:[^\W_]{1,2}-[^\W_]+|[^\W_]+-[^\W_]{1,2})\b", lambda m: m.group(0).replace("-", ""),
                  unicodedata.normalize("NFKC", text))
    text = re.sub(r"\bnon-(?=[^\W_])", "non", text, flags=re.IGNORECASE)  # "non-iron" is a kind of shirt, no "not"
    text = _EXCEPTING.sub(" except ", _CONTRACTED.sub(" not", text))  # "but" alone still parts clauses ("not
    # blue but red" asks for red); after "anything" it excepts
    clauses = [value_words(c) for c in re.split(r"[,;:.!?()]|\bbut\b", text, flags=re.IGNORECASE)]
    ruled_out = {w for c in clauses for i, w in enumerate(c) if any(x in NEGATING for x in c[:i])}
    return [w for c in clauses for w in c if w not in NEGATING and w not in ruled_out]


def gather_facts(product_title: str, product_attributes: dict[str, str], query_text: str = "",
                 query_attributes: dict[str, str] | None = None, word_attributions=None, heatmap=None,
                 score: float | None = None, faithfulness: float | None = None,
                 fields: tuple[str, ...] = (), query_photo: bool = False, image_weight: float = 0.5,
                 query_product: str = "", liked: tuple[str, ...] = ()) -> Facts:
    """Facts for one match. ``query_attributes`` exist when the query is a catalog product (more like
    this), whose title is ``query_product`` (the query the facts name; with neither words nor a title, such a
    query is "a catalog product", not a photo it never had); for a text query, the product's attribute values
    that the text mentions count as shared. ``liked``: the titles of products liked besides the query's words or
    photo, which the search weighed too (a result ranked by a liked shoe was "close to the query photo" of a skirt).
    ``score``: the similarity shown beside the result (a NaN, e.g. of a product without a photo, is none).
    ``query_photo``: the query had a photo, weighed ``image_weight`` against its text as the search weighs it: a
    side weighed 0 is not part of the query the facts state (a photo searched with the slider at "photo" is not
    close to its words)."""
    from core.search import has_words  # a zero-width space alone is no text, as the search reads it

    photo_counts, text_counts = counted_sides(query_photo, has_words(query_text), image_weight)
    query_text = query_text if text_counts else ""
    attrs = {k: clean_text(v, 40) for k, v in product_attributes.items() if (not fields or k in fields) and v}
    shared: dict[str, str] = {}
    differing: dict[str, tuple[str, str]] = {}
    if query_attributes:
        for k, v in attrs.items():
            other = clean_text(query_attributes.get(k, ""), 40)
            if other and other.lower() == v.lower():
                shared[k] = v
            elif other:
                differing[k] = (other, v)
    elif query_text:  # singular and plural alike: "blue skirt" shares the article type Skirts
        said = word_forms(asked_words(query_text))
        shared = {k: v for k, v in attrs.items()
                  if value_words(v) and all(word_forms({w}) & said for w in value_words(v))}
    top: tuple[str, ...] = ()
    if word_attributions is not None and len(word_attributions.tokens):
        order = np.argsort(-np.asarray(word_attributions.values))
        # words worth naming, each once: not "“blue”, “blue”", a quote mark, "of" or the "t" of "T-Shirt"
        words = [(clean_text(word_attributions.tokens[i], 40).casefold(), word_attributions.values[i]) for i in order]
        named = [w for w, v in words if v > 0 and words_of(w) and (len(w) > 1 or w.isdigit()) and w not in STOPWORDS]
        top = tuple(dict.fromkeys(named))[:3]
    query = clean_text(query_text) or clean_text(query_product) or (
        PRODUCT_QUERY if query_attributes and not photo_counts else PHOTO_QUERY)
    return Facts(product=clean_text(product_title), query=query,
                 query_photo=photo_counts, liked=tuple(clean_text(t, 60) for t in liked)[:3], shared=shared,
                 differing=differing, product_attributes=attrs, top_words=top,
                 region=region_of(heatmap) if heatmap is not None else None,
                 score=float(score) if score is not None and math.isfinite(score) else None,
                 faithfulness=faithfulness)
