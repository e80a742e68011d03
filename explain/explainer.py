"""Explaining one match end to end: the facade the GUI, the reports and the benchmarks call.

For a query (image, text or both) and one recommended product, in the ViT's joint space:
attention rollout and gradient-weighted attention, Grad-CAM on the CNN stage and on the ViT
tokens, a match map between the two photos, word attributions for the query text and the
product's title and description, and deletion/insertion faithfulness for each image map.
Maps on the query photo explain its similarity to the result, so they are per result too.
The perturbation map (``explain.perturbation``) takes seconds, so it is made only on request.
"""
from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

import numpy as np
import torch
from PIL import Image

from core.errors import Cancelled
from core.search import has_words
from explain.attention import attention_rollout, gradient_attention, similarity_to
from explain.faithfulness import FEATHER, Curves, RandomReference, blur_imputer, curves, curves_of_maps
from explain.gradcam import ImageToEmbedding, grad_cam, vit_reshape
from explain.match_map import match_map
from explain.perturbation import METHOD as PERTURBATION
from explain.perturbation import perturbation_map
from explain.tokens import TokenAttributor
from explain.types import MATCH_MAP, Explanation, counted_sides, photo_frame

IMAGE_METHODS = ("attention rollout", "gradient-weighted attention", "grad-cam cnn", "grad-cam vit")
# Maps that cost seconds, not milliseconds: computed only when asked for (``explain(..., slow=...)``, or
# their faithfulness is asked for), and on the result's photo only.
SLOW_METHODS = (PERTURBATION,)
ALL_IMAGE_METHODS = IMAGE_METHODS + SLOW_METHODS
VIEWS = (*ALL_IMAGE_METHODS, MATCH_MAP)  # what a match can be shown with


@dataclass
class MatchExplanation:
    score: float
    result_maps: dict[str, Explanation] = field(default_factory=dict)
    query_maps: dict[str, Explanation] = field(default_factory=dict)
    match: Explanation | None = None
    words: dict[str, Explanation] = field(default_factory=dict)  # "query", "title", "description"
    faithfulness: dict[str, Curves] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    query_vector: np.ndarray | None = None  # what the result's maps explain its similarity to (``with_method``)


class _Timer:
    def __init__(self, seconds: dict[str, float], key: str):
        self.seconds, self.key = seconds, key

    def __enter__(self):
        self.t = time.perf_counter()

    def __exit__(self, *exc):
        self.seconds[self.key] = self.seconds.get(self.key, 0.0) + time.perf_counter() - self.t


class MatchExplainer:
    """Wraps a loaded ``core.vit.VitEncoder`` (its backbone, transformer and MiniLM text side)."""

    # Which grad-cam package variant each Grad-CAM map uses (explain.gradcam.VARIANTS); chosen by the
    # faithfulness benchmark (docs/BENCHMARKS.md).
    cam_variants: Mapping[str, str] = MappingProxyType({"grad-cam cnn": "element-wise", "grad-cam vit": "element-wise"})
    # Where Grad-CAM reads the ViT tokens: None = the patch embeddings (the tokens as they enter the
    # transformer, before position embeddings); an int = the input of that block's attention.
    cam_vit_block: int | None = None
    # Softened borders of removed patches in the faithfulness curves (explain.faithfulness.FEATHER).
    feather: float = FEATHER

    def __init__(self, vit_encoder, steps: int = 16, ig_steps: int = 16, random_orders: int = 2):
        """``steps``: points of each deletion / insertion curve; ``ig_steps``: integrated-gradient steps of
        the word attributions; ``random_orders``: random patch orders averaged into the reference curves."""
        self.enc = vit_encoder
        self.cancelled = lambda: False  # set by the caller for one explanation (the window's Cancel)
        self.vit = vit_encoder.model
        self.backbone = vit_encoder.backbone
        self.model_id = vit_encoder.model_id
        self.steps = steps
        self.random_orders = random_orders
        text = vit_encoder.text_encoder
        text = text.load() if hasattr(text, "load") else text
        self.words = TokenAttributor(text.model, text.model_id, steps=ig_steps)

    # ---- building blocks ----------------------------------------------------------------
    def _fmap(self, image: Image.Image) -> torch.Tensor:
        return self.enc.feature_maps(self.enc.preprocess([image]))

    def embed(self, images: list[Image.Image]) -> np.ndarray:
        return self.enc.encode_images(images)

    def query_vector(self, image: Image.Image | None, text: str, fmap: torch.Tensor | None = None,
                     image_weight: float = 0.5) -> np.ndarray:
        """The unit query vector (``fmap``: the photo's feature map when the caller already has it): with a photo
        and a text, their vectors weighted as the search weighs them (``image_weight`` the photo's; an even mean
        explained every query, whatever the text/photo slider said)."""
        if not 0.0 <= image_weight <= 1.0:
            raise ValueError(f"image_weight must be between 0 and 1 (got {image_weight})")
        parts = []
        if image is not None:
            vector = self.embed([image])[0] if fmap is None else self.enc.encode_feature_maps(fmap)[0]
            parts.append((image_weight if has_words(text) else 1.0, vector))
        if has_words(text):  # a zero-width space alone is no text, as the search reads it
            parts.append((1.0 - image_weight if image is not None else 1.0, self.enc.encode_texts([text])[0]))
        parts = [(w, v) for w, v in parts if w > 0]
        if not parts:
            raise ValueError("a query needs an image or a text")
        v = sum(w * vec for w, vec in parts)
        return (v / np.linalg.norm(v)).astype(np.float32)

    def image_maps(self, image: Image.Image, target: np.ndarray, seconds: dict[str, float],
                   fmap: torch.Tensor | None = None) -> dict[str, Explanation]:
        """Every image method on one photo, explaining its similarity to ``target`` (``fmap``: the
        photo's feature map when the caller already has it)."""
        fmap = self._fmap(image) if fmap is None else fmap
        out: dict[str, Explanation] = {}
        with _Timer(seconds, "attention"):
            out["attention rollout"] = attention_rollout(self.vit, fmap, self.model_id)
            out["gradient-weighted attention"] = gradient_attention(self.vit, fmap, similarity_to(target),
                                                                    self.model_id)
        with _Timer(seconds, "grad-cam"):
            pixels = self.enc.preprocess([image]).contiguous()
            full = ImageToEmbedding(self.backbone, self.vit)
            out["grad-cam cnn"] = grad_cam(full, pixels, self.backbone.blocks[-1], target, method="grad-cam cnn",
                                           model_id=self.model_id, variant=self.cam_variants["grad-cam cnn"])
            b = self.cam_vit_block
            layer = self.vit.patch if b is None else self.vit.blocks[b].norm1
            out["grad-cam vit"] = grad_cam(self.vit, fmap, layer, target, method="grad-cam vit",
                                           model_id=self.model_id,
                                           reshape=vit_reshape(self.vit.cfg.grid, cls=b is not None),
                                           variant=self.cam_variants["grad-cam vit"])
        return {k: replace(e, values=photo_frame(e.values, image.size)) for k, e in out.items()}

    def _check(self) -> None:
        """Between the steps of an explanation: a cancelled one stops there (it held the window's pool for seconds
        after a new search)."""
        if self.cancelled():
            raise Cancelled("The explanation was cancelled.")

    def scorer(self, target: np.ndarray):
        """Scores batches of images against ``target``; checks ``self.cancelled`` before each, so that the maps
        and curves of hundreds of model passes stop when the explanation is no longer wanted."""
        def score(images: list[Image.Image]) -> np.ndarray:
            if self.cancelled():
                raise Cancelled("The explanation was cancelled.")
            return self.embed(images) @ target

        return score

    def perturbation(self, image: Image.Image, target: np.ndarray) -> Explanation:
        """The perturbation map of the similarity to ``target`` on ``image`` (hundreds of model passes)."""
        return perturbation_map(image, self.scorer(target), feather=self.feather, model_id=self.model_id)

    def faithfulness_of(self, image: Image.Image, explanation: Explanation, target: np.ndarray,
                        reference: RandomReference | None = None, grid: int = 14) -> Curves:
        return curves(image, explanation.values, self.scorer(target), grid=grid, steps=self.steps,
                      imputer=blur_imputer, reference=reference, orders=self.random_orders, feather=self.feather)

    # ---- the facade -------------------------------------------------------------------------
    def explain(self, result_image: Image.Image | None, title: str, description: str,
                query_image: Image.Image | None = None, query_text: str = "",
                faithfulness: tuple[str, ...] = IMAGE_METHODS, slow: tuple[str, ...] = (),
                image_weight: float = 0.5) -> MatchExplanation:
        """``faithfulness``: the image methods whose deletion / insertion curves are computed; ``slow``: the
        slow maps to make on the result's photo (any slow method in ``faithfulness`` is made too);
        ``image_weight``: the query photo's weight against its text, as in the search."""
        unknown = set(faithfulness) - set(ALL_IMAGE_METHODS) | set(slow) - set(SLOW_METHODS)
        if unknown:
            raise ValueError(f"unknown image method(s): {', '.join(sorted(unknown))}")
        slow = tuple(m for m in SLOW_METHODS if m in slow or m in faithfulness)
        # Each photo goes through the CNN trunk once here; its feature map serves the vectors and the maps.
        query_fmap = self._fmap(query_image) if query_image is not None else None
        q = self.query_vector(query_image, query_text, query_fmap, image_weight)
        seconds: dict[str, float] = {}
        result_fmap = self._fmap(result_image) if result_image is not None else None
        result_vec = self.enc.encode_feature_maps(result_fmap)[0] if result_fmap is not None else None
        out = MatchExplanation(float(result_vec @ q) if result_vec is not None else float("nan"), seconds=seconds,
                               query_vector=q)
        if result_image is not None:
            self._check()
            out.result_maps = self.image_maps(result_image, q, seconds, result_fmap)
            if PERTURBATION in slow:
                with _Timer(seconds, PERTURBATION):
                    out.result_maps[PERTURBATION] = self.perturbation(result_image, q)
            with _Timer(seconds, "faithfulness"):
                if faithfulness:
                    maps = {m: out.result_maps[m].values for m in faithfulness}
                    out.faithfulness = curves_of_maps(result_image, maps, self.scorer(q), steps=self.steps,
                                                      imputer=blur_imputer, orders=self.random_orders,
                                                      feather=self.feather)
        # a side the slider weighs 0 is not part of the query: its maps (or words) would explain what did not count
        photo_counts, text_counts = counted_sides(query_image is not None, has_words(query_text), image_weight)
        if photo_counts and result_vec is not None:
            self._check()
            out.query_maps = self.image_maps(query_image, result_vec, seconds, query_fmap)
            with _Timer(seconds, MATCH_MAP):
                match = match_map(query_fmap, result_fmap, self.model_id)
                out.match = replace(match, values=photo_frame(match.values, result_image.size),
                                    extras=match.extras | {"query_map": photo_frame(match.extras["query_map"],
                                                                                     query_image.size)})
        self._check()
        with _Timer(seconds, "words"):
            jobs = [("query", query_text, result_vec, "similarity to the result's photo")] \
                if text_counts and result_vec is not None else []
            jobs += [(name, text, q, "similarity to the query") for name, text in (("title", title),
                                                                                   ("description", description))
                     if has_words(text)]
            if jobs:
                names, texts, targets, whats = zip(*jobs)
                out.words = dict(zip(names, self.words.explain_many(list(texts), list(targets), list(whats))))
        return out

    def with_method(self, m: MatchExplanation, result_image: Image.Image | None, method: str) -> MatchExplanation:
        """``m`` (of ``result_image``) with what showing ``method`` adds: its map if it is a slow one, and its
        faithfulness curves. The other maps and the words are kept: switching the heatmap explained it all again
        (seconds of work for a map already made)."""
        if method not in ALL_IMAGE_METHODS:
            raise ValueError(f"unknown image method: {method}")
        out = replace(m, result_maps=dict(m.result_maps), faithfulness=dict(m.faithfulness), seconds={})
        if result_image is None or m.query_vector is None:
            return out
        q = m.query_vector
        if method not in out.result_maps:
            with _Timer(out.seconds, method):
                out.result_maps[method] = self.perturbation(result_image, q)
        if method not in out.faithfulness:
            self._check()
            with _Timer(out.seconds, "faithfulness"):
                out.faithfulness[method] = curves_of_maps(result_image, {method: out.result_maps[method].values},
                                                          self.scorer(q), steps=self.steps, imputer=blur_imputer,
                                                          orders=self.random_orders, feather=self.feather)[method]
        return out
