""""Goes with" recommendations: complements rather than look-alikes.

Known pairs come first: products bought together (the catalog's co-purchase pairs). Products
with none (new products) get complements from a model learned on those pairs, in two stages:

1. A content model in the spirit of McAuley et al. 2015 ("Image-based recommendations on styles
   and substitutes"): two linear maps of the product's content (ViT photo + MiniLM text vectors and
   its attribute values as one-hots) into a space where a product lies close to what is bought with
   it (in-batch InfoNCE), trained on the pairs between training products. The query side is content
   only (a new product has no pairs); the candidate side adds a learned vector per product that has
   training pairs, which holds what its content does not say about who buys it, and is then smoothed
   over the pairs' graph (a product takes part of its partners' vectors).
2. A ranker over the first stage's candidates (the top
   products by each plain similarity, by the learned complementarity and by popularity) that
   combines the evidence for one candidate:
   the learned complementarity, plain similarity in each vector space, attribute compatibility
   (log P(value of the candidate | value of the product) per category field, from the training
   pairs), same-value flags, shared title words, how often the candidate is bought at all and how
   often it is bought with products that share one attribute value with the query (its section,
   department, product type...: popularity among the buyers of that kind of product). Both count
   how often the pairs list the candidate as a product's partner, in the catalog's direction.
   It is fitted on held-out pairs, whose products' pairs the stage 1 that scored them never saw: the
   validation products', and on a catalog with enough pairs (``TREE_MIN_PAIRS``) also every
   training product's, each scored by a stage 1 learned without the pairs of its fold of training
   products (cross-fitting). With those rows the ranker is boosted trees (``core.trees``), which
   learn how the evidence interacts; with the validation products' alone, logistic regression.

Each recommendation names the evidence that contributed most to its score. Everything is
evaluated on test products whose pairs were hidden from both stages.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.catalog import Catalog
from core.complement_evidence import CANDIDATES, Evidence, content_vectors
from core.complement_model import ComplementModel, check_encoders, model_path
from core.errors import AppError

log = logging.getLogger(__name__)


KNOWN = "bought together"  # the evidence of a known co-purchase


@dataclass(frozen=True)
class Complement:
    """A known co-purchase (score: the pair's weight in the catalog) or the model's pick (score: the
    chance, as the ranker estimates it, that the two are bought together: 0..1)."""

    pk: int
    score: float
    evidence: dict[str, float]  # {KNOWN: weight}, or the ranker's strongest reasons and their shares (log-odds)

    @property
    def known(self) -> bool:
        return KNOWN in self.evidence


def badge(c: Complement) -> str:
    """What a result's badge says: "bought" for a known co-purchase, else the model's chance in percent."""
    if c.known:
        return "bought"
    # a prediction is never certain: 0.99999 printed "100 %" beside products never bought with it
    return "<1 %" if c.score < 0.005 else ">99 %" if c.score >= 0.995 else f"{c.score:.0%}".replace("%", " %")


def why(c: Complement) -> str:
    """The evidence in words: the pair's weight, or the model's chance and its strongest reasons."""
    if c.known:
        return f"bought together (co-purchase weight {c.evidence[KNOWN]:.3g})"
    reasons = ", ".join(f"{name} +{share:.2f}" for name, share in c.evidence.items())
    return f"predicted: {badge(c)} chance to be bought together" + (f"; evidence: {reasons}" if reasons else "")


def evidence_label(feature: str, value: float) -> str:
    """A ranker feature as the evidence it was for one candidate: a flag or a count at 0 that weighed for the
    candidate says so ("not the same articleType"), where its name alone claimed the opposite ("same articleType
    +0.23" beside a green shoe for a black T-shirt: a different type is evidence for a complement)."""
    if value != 0:
        return feature
    if feature.startswith("same "):
        return f"not the {feature}"
    if feature == "shared title words":
        return "no shared title words"
    if feature.startswith("often bought"):
        return "never bought" + feature[len("often bought"):]
    return feature


def recommend(catalog: Catalog, model: ComplementModel | None, pk: int, k: int = 20,
              evidence: Evidence | None = None, reasons: int = 3) -> list[Complement]:
    """Known co-purchases first, then the model's complements; each with the evidence used."""
    from scipy.special import expit

    out = [Complement(b, float(w), {KNOWN: float(w)}) for b, w in catalog.copurchased(pk)[:k]]
    if model is None or len(out) >= k:
        return out
    check_encoders(catalog, model)
    if evidence is None:
        pks, x = content_vectors(catalog, model.spaces, model.attribute_values)
        evidence = Evidence(catalog, model, pks, x)
    i = evidence.row.get(int(pk))
    if i is None:
        if catalog.product(pk).image_path is None:
            raise AppError("This product has no photo: the learned model places a product by its photo and text, "
                           "so it cannot pick complements for it. Add a photo (re-import it with one).")
        raise AppError("This product has no content vectors yet: run `vitrina index`.")
    cand = evidence.candidates(i, max(CANDIDATES, k))
    feats = evidence.features(i, cand)
    total = model.score(feats)
    seen = {c.pk for c in out} | {pk}
    shown = [r for r in np.argsort(-total, kind="stable") if int(evidence.pks[cand[r]]) not in seen][:k - len(out)]
    if not shown:
        return out
    parts = model.contributions(feats[shown])  # only for the picks shown: with trees, a walk down every tree
    chance = expit(total[shown])  # the ranker's log-odds as a probability (no overflow at extreme odds)
    for n, r in enumerate(shown):
        top = np.argsort(-parts[n])[:reasons]
        out.append(Complement(int(evidence.pks[cand[r]]), float(chance[n]),
                              {evidence_label(model.features[t], float(feats[r, t])): round(float(parts[n, t]), 3)
                               for t in top if parts[n, t] > 0}))
    return out


class GoesWith:
    """A catalog's goes-with model and its evidence, kept between requests: building the evidence
    reads every vector, title and attribute of the catalog (seconds on a large one). Both are read
    again when the model file or the catalog changed since."""

    def __init__(self, catalog: Catalog):
        import threading

        self.catalog = catalog
        self._lock = threading.Lock()  # the GUI asks from worker threads
        self._key: tuple | None = None
        self._model: ComplementModel | None = None
        self._evidence: Evidence | None = None

    def _state(self) -> tuple[Path, tuple]:
        """The model's path, and what the cache is valid for: the model file (None: no model) and the catalog."""
        path = model_path(self.catalog)
        try:
            stat = path.stat()
            file = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            file = None
        return path, (file, self.catalog.change_marker())

    @property
    def model(self) -> ComplementModel | None:
        """The model the last ``recommend`` used (None: none was trained for this catalog)."""
        return self._model

    def recommend(self, pk: int, k: int = 20) -> list[Complement]:
        """``recommend`` with the model saved beside the catalog (known pairs alone when there is none)."""
        with self._lock:
            path, key = self._state()
            if key != self._key:
                self._model, self._evidence, self._key = None, None, None
                model = ComplementModel.load(path).named(self.catalog) if key[0] is not None else None
                if model is not None:
                    check_encoders(self.catalog, model)
                    pks, x = content_vectors(self.catalog, model.spaces, model.attribute_values)
                    self._evidence = Evidence(self.catalog, model, pks, x)
                self._model, self._key = model, key
            model, evidence = self._model, self._evidence
        return recommend(self.catalog, model, pk, k, evidence=evidence)
