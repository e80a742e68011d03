"""Search: one API for the CLI and the GUI.

A :class:`Query` carries any mix of evidence: a query image, a query text, products to find
more like, and negatives (products, images or terms: "less like this"). Each piece of evidence
becomes a query vector in every space that can take it; a product's score is the weighted mean
of its cosine similarities to them (late fusion: image evidence weighted ``image_weight``, text
evidence ``1 - image_weight``), minus ``negative_weight`` times its highest similarity to any
negative (per space, then weighted across spaces like the positives: a score-level Rocchio).
Filters restrict the index search itself, so a selective filter still returns a full top-K.
"""
from __future__ import annotations

import logging
import math
import numbers
import unicodedata
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from core.encoders import text_side
from core.engine import Engine
from core.errors import QueryError

log = logging.getLogger(__name__)


def has_words(text: str) -> bool:
    """Whether ``text`` holds anything to search for: a zero-width space, a byte-order mark or control characters
    alone (strip() keeps them) were searched as a text, and found whatever lies nearest an empty one."""
    return any(unicodedata.category(c)[0] not in "CZ" for c in text)


def side_weights(q: Query) -> tuple[float, float]:
    """(photos' weight, words' weight) of a query's evidence: the slider's, unless one side is all there is (a
    photo alone, words alone; liked products bring both)."""
    if not has_words(q.text) and not q.like:
        return 1.0, 0.0
    if q.image is None and not q.like:
        return 0.0, 1.0
    return q.image_weight, 1.0 - q.image_weight


UNREAD_NOTE = "the text has no word the text model reads (emoji carry none): these are nearest an empty text"


def unread_text(engine: Engine, q: Query) -> bool:
    """Whether the query's text weighs in its search (a photo or liked products at "photo" leave it out) and holds
    something to search for, but no word that any of the engine's text models reads (a model that cannot tell is
    taken to read it). Loads the text models, which a search of that text loads anyway."""
    text = q.text
    if not has_words(text) or not side_weights(q)[1]:
        return False
    readers = [getattr(text_side(s.encoder), "reads", None) for s in engine.spaces.values()
               if "text" in s.encoder.modalities]
    return not any(reads is None or reads(text) for reads in readers) and bool(readers)


@dataclass(frozen=True)
class Filters:
    categories: dict[str, tuple[str, ...]] = field(default_factory=dict)
    price_min: float | None = None
    price_max: float | None = None
    rating_min: float | None = None
    pks: tuple[int, ...] | None = None  # only these products (a cluster, a test split)

    def active(self) -> bool:
        return bool(self.categories) or any(v is not None for v in (self.price_min, self.price_max,
                                                                     self.rating_min, self.pks))


@dataclass(frozen=True)
class Query:
    text: str = ""
    image: Image.Image | None = None
    like: tuple[int, ...] = ()  # "more like this product": catalog pks
    unlike: tuple[int, ...] = ()  # "less like this product"
    unlike_text: tuple[str, ...] = ()
    unlike_images: tuple[Image.Image, ...] = ()
    image_weight: float = 0.5
    negative_weight: float = 0.5
    filters: Filters = Filters()
    min_score: float | None = None
    k: int = 20
    exclude: tuple[int, ...] = ()  # never return these (the query product itself, say)
    spaces: tuple[str, ...] | None = None  # only these embedding spaces (evaluation, "image only" views)

    def validate(self) -> None:
        if not (has_words(self.text) or self.image is not None or self.like):
            raise QueryError("Give a query: an image, some text or a product to find more like.")
        # what the command line refuses, refused here too: k=2.5 gave 16 results, a NaN bound no result at all
        if not isinstance(self.k, numbers.Integral) or isinstance(self.k, bool):
            raise QueryError(f"The number of results must be a whole number (got {self.k!r}).")
        for what, v in (("minimum price", self.filters.price_min), ("maximum price", self.filters.price_max),
                        ("minimum rating", self.filters.rating_min), ("relevance threshold", self.min_score)):
            if v is not None and (not isinstance(v, numbers.Real) or isinstance(v, bool) or not math.isfinite(v)):
                raise QueryError(f"The {what} must be a number (got {v!r}).")
        if not 0.0 <= self.image_weight <= 1.0:
            raise QueryError(f"The image weight must be between 0 and 1 (got {self.image_weight}).")
        if not 0.0 <= self.negative_weight <= 2.0:
            raise QueryError(f"The 'less like this' weight must be between 0 and 2 (got {self.negative_weight}).")
        if self.k < 1:
            raise QueryError(f"Ask for at least one result (got k={self.k}).")
        f = self.filters
        if f.price_min is not None and f.price_max is not None and f.price_min > f.price_max:
            raise QueryError(f"The price range is empty: minimum {f.price_min} is above maximum {f.price_max}.")


@dataclass(frozen=True)
class Hit:
    pk: int
    score: float
    parts: dict[str, float]  # space -> similarity to that space's positive evidence


@dataclass(frozen=True)
class Evidence:
    space: str
    vector: np.ndarray
    weight: float
    kind: str  # "image" or "text": which modality weight it carries
    negative: bool = False


class Searcher:
    def __init__(self, engine: Engine, oversample: int = 4):
        self.engine = engine
        self.oversample = oversample

    # ---- evidence ---------------------------------------------------------------------
    def evidence(self, q: Query) -> list[Evidence]:
        w_img, w_txt = side_weights(q)
        # the image spaces of a catalog without photos cannot answer: no evidence there, so that a photo query is
        # refused (an empty index waiting for a new model's vectors takes part, and finds nothing until re-indexed)
        photos = self.engine.catalog.has_images()
        spaces = [(n, s) for n, s in self.engine.spaces.items()
                  if (q.spaces is None or n in q.spaces) and (photos or s.source != "image")]
        out: list[Evidence] = []
        images = [q.image] if q.image is not None else []
        out += self._from_inputs(spaces, images, [q.text] if has_words(q.text) else [], w_img, w_txt, False)
        out += self._from_products(spaces, q.like, w_img, w_txt, False)
        out += self._from_inputs(spaces, list(q.unlike_images), [t for t in q.unlike_text if has_words(t)],
                                 w_img or 0.5, w_txt or 0.5, True)
        out += self._from_products(spaces, q.unlike, w_img or 0.5, w_txt or 0.5, True)
        return [e for e in out if e.weight > 0]


    def _from_inputs(self, spaces, images, texts, w_img, w_txt, negative) -> list[Evidence]:
        out = []
        text_vectors: dict[int, np.ndarray] = {}  # spaces sharing one text model encode the text once
        for name, space in spaces:
            enc = space.encoder
            if images and "image" in enc.modalities:
                out += [Evidence(name, v, w_img, "image", negative) for v in enc.encode_images(images)]
            if texts and "text" in enc.modalities:
                # a joint space serves text queries against product images: it shares the text weight
                key = id(text_side(enc))
                if key not in text_vectors:
                    text_vectors[key] = enc.encode_texts(texts)
                out += [Evidence(name, v, w_txt, "text", negative) for v in text_vectors[key]]
        return _share_weights(out)

    def _from_products(self, spaces, pks, w_img, w_txt, negative) -> list[Evidence]:
        out = []
        for name, space in spaces:
            _, vecs = self.engine.vectors_for(name, pks)
            kind = space.source
            out += [Evidence(name, v, w_img if kind == "image" else w_txt, kind, negative) for v in vecs]
        return _share_weights(out)

    # ---- search -----------------------------------------------------------------------
    def search(self, q: Query) -> list[Hit]:
        q.validate()
        unknown = set(q.spaces or ()) - set(self.engine.spaces)
        if unknown:
            raise QueryError(f"Unknown space(s) {', '.join(sorted(unknown))}; this catalog has "
                             f"{', '.join(self.engine.spaces)}.")
        evidence = self.evidence(q)
        positives = [e for e in evidence if not e.negative]
        if not positives:
            raise QueryError("None of the query's inputs can be searched in this catalog "
                             "(for example an image query in a catalog without images).")
        allowed = allowed_pks(self.engine.catalog, q.filters)
        if allowed is not None and not len(allowed):
            return []
        exclude = set(q.like) | set(q.unlike) | set(q.exclude)
        want = q.k + len(exclude)
        candidates = self._candidates(positives, want * self.oversample, allowed)
        candidates = np.asarray([c for c in candidates if c not in exclude], np.int64)
        if not len(candidates):
            return []
        scores, parts = self._score(candidates, evidence, q.negative_weight)
        order = np.argsort(-scores, kind="stable")
        hits = []
        for i in order:
            if q.min_score is not None and scores[i] < q.min_score:
                break
            hits.append(Hit(int(candidates[i]), float(scores[i]), {k: float(v[i]) for k, v in parts.items()
                                                                    if not np.isnan(v[i])}))
            if len(hits) == q.k:
                break
        return hits

    def _candidates(self, positives: list[Evidence], n: int, allowed) -> list[int]:
        seen: dict[int, None] = {}
        by_space: dict[str, list[np.ndarray]] = {}
        for e in positives:
            by_space.setdefault(e.space, []).append(e.vector)
        for name, vecs in by_space.items():
            index = self.engine.indexes.get(name)
            if index is None or not len(index):
                continue
            _, ids = index.search(np.stack(vecs), min(n, len(index)), allowed_ids=allowed)
            for row in ids:
                seen.update(dict.fromkeys(int(i) for i in row if i >= 0))
        return list(seen)

    def _score(self, candidates: np.ndarray, evidence: list[Evidence], beta: float):
        """Per space, the weighted mean similarity to the positive evidence and the highest similarity to a
        negative; then the spaces' weighted mean of each, the query's weights over every space it searched.

        A product without a vector in a space (no photo) is given that space's median among the candidates
        that have one: divided by its own weights only, it kept its text score undiluted by the lower
        text-to-photo scores every product with a photo is averaged with, and outranked better matches. A
        negative's weights are shared like the positives' only to weigh the spaces against each other: the
        penalty is the highest similarity to any negative (with six of them it had shrunk to a sixth)."""
        n = len(candidates)
        pos_sum, pos_w = np.zeros(n), 0.0
        neg_sum, neg_w = np.zeros(n), 0.0
        parts: dict[str, np.ndarray] = {}
        for name in {e.space for e in evidence}:
            rows, vecs = self.engine.vectors_at(name, candidates)
            if not len(rows):
                continue
            sims_pos = [(e.weight, vecs @ e.vector) for e in evidence if e.space == name and not e.negative]
            sims_neg = [(e.weight, vecs @ e.vector) for e in evidence if e.space == name and e.negative]
            if sims_pos:
                w = sum(wt for wt, _ in sims_pos)
                part = np.full(n, np.nan)
                part[rows] = sum(wt * sim for wt, sim in sims_pos) / w
                parts[name] = part
                pos_sum += w * _filled(part)
                pos_w += w
            if sims_neg:
                w = sum(wt for wt, _ in sims_neg)
                worst = np.full(n, np.nan)
                # at least 0: pointing away from a negative is no bonus (a negative cosine made one, above 1)
                worst[rows] = np.maximum(0.0, np.max([sim for _, sim in sims_neg], axis=0))
                neg_sum += w * _filled(worst)
                neg_w += w
        score = pos_sum / pos_w if pos_w > 0 else np.full(n, -1.0)
        if neg_w > 0:
            score = score - beta * neg_sum / neg_w
        return score, parts


def _filled(values: np.ndarray) -> np.ndarray:
    """``values`` with its missing entries (NaN: no vector in that space) set to the median of the others."""
    known = values[~np.isnan(values)]
    return np.where(np.isnan(values), float(np.median(known)) if len(known) else 0.0, values)


def allowed_pks(catalog, f: Filters) -> np.ndarray | None:
    """The products that pass the filters (sorted pks), or None when no filter is set."""
    if not f.active():
        return None
    known = set(catalog.attribute_keys())
    unknown = [k for k in f.categories if k not in known]
    if unknown:
        fields = (f"Fields: {', '.join(sorted(known))}." if known
                  else "This catalog has no filter fields (import it with --category COLUMN).")
        raise QueryError(f"Unknown filter field(s): {', '.join(unknown)}. {fields}")
    allowed = None
    if f.categories or any(v is not None for v in (f.price_min, f.price_max, f.rating_min)):
        allowed = catalog.filter_pks(categories=f.categories, price_min=f.price_min, price_max=f.price_max,
                                     rating_min=f.rating_min)
    if f.pks is not None:
        mine = np.unique(np.asarray(f.pks, np.int64))
        allowed = mine if allowed is None else np.intersect1d(allowed, mine)
    return allowed


def _share_weights(evidence: list[Evidence]) -> list[Evidence]:
    """Vectors of one kind (one per space, or several example products) share that kind's weight."""
    groups: dict[tuple[str, bool], int] = {}
    for e in evidence:
        groups[(e.kind, e.negative)] = groups.get((e.kind, e.negative), 0) + 1
    return [Evidence(e.space, e.vector, e.weight / groups[(e.kind, e.negative)], e.kind, e.negative)
            for e in evidence]


def search(engine: Engine, query: Query) -> list[Hit]:
    return Searcher(engine).search(query)
