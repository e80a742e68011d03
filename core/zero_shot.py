"""Zero-shot category of a query photo from the catalog's own category names (CLIP-style).

The photo is embedded by the ViT, each category value of a field by the text side (MiniLM); the
softmax of their scaled cosines gives a probability per category. Usable as a filter: "same
category as the query".
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from core.engine import Engine
from core.errors import QueryError

JOINT_SPACE = "vit"
DEFAULT_SCALE = 50.0


def category_field(engine: Engine, field: str | None = None) -> str:
    """``field`` checked, or the most specific category field (most distinct values, at least 3)."""
    fields = engine.catalog.category_fields()
    if field:
        if field not in fields:
            raise QueryError(f"'{field}' is not a category field of {engine.catalog.name}: "
                             + (f"{', '.join(fields)}." if fields else "it has none (import it with --category COLUMN)."))
        return field
    counts = {f: len(engine.catalog.field_values(f)) for f in fields}
    usable = [f for f, n in counts.items() if 3 <= n <= 1000]
    if not usable:  # "at least 3 values" was said of fields of 5,000 values too
        many = [f"{f} ({n:,} values)" for f, n in counts.items() if n > 1000]
        raise QueryError(f"{engine.catalog.name} has no category field with 3 to 1,000 values to classify into"
                         + (f": {', '.join(many)} {'has' if len(many) == 1 else 'have'} too many to tell apart."
                            if many else "."))
    return max(usable, key=counts.get)


def classify(engine: Engine, image: Image.Image, field: str | None = None) -> list[tuple[str, float]]:
    """(category value, probability) for every value of the field, most likely first."""
    if JOINT_SPACE not in engine.spaces:
        raise QueryError("Zero-shot categories need Vitrina's vision transformer, which is not installed.")
    field = category_field(engine, field)
    labels = [value for value, _ in engine.catalog.field_values(field)]
    if not labels:
        raise QueryError(f"No product of {engine.catalog.name} has a value in '{field}', so there are no "
                         "categories to classify into: choose another field.")
    encoder = engine.space(JOINT_SPACE).encoder
    img = encoder.encode_images([image])[0]
    txt = encoder.encode_texts(labels)
    logits = _scale(encoder) * (txt @ img)
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    order = np.argsort(-probs)
    return [(labels[i], float(probs[i])) for i in order]


def _scale(encoder) -> float:
    """The temperature the ViT learned (exp of its logit scale), when it exposes one."""
    inner = encoder.load() if hasattr(encoder, "load") else encoder
    model = getattr(inner, "model", None)
    scale = getattr(model, "logit_scale", None)
    return float(scale.detach().exp().clamp(max=100)) if scale is not None else DEFAULT_SCALE
