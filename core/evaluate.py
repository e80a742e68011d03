"""Retrieval evaluation: P@K, R@K, NDCG@K and MRR for image-only, text-only and fused queries.

Each query is a held-out catalog product searched for as a user would: its photo, its title,
or both. Relevant products are those sharing the query's value of a label column (e.g.
``articleType``, or ``product_code`` for "the same design in another colour") or, with
``label="copurchase"``, those bought together with it. The query product itself is excluded.
Binary relevance; NDCG's ideal ranking puts min(K, |relevant|) relevant items first.
"""
from __future__ import annotations

import json
import logging
import math
import random
from collections.abc import Callable, Generator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path


from core.engine import Engine
from core.errors import AppError, QueryError
from core.images import load_image
from core.progress import Progress
from core.search import Filters, Query, Searcher
from core.splits import split_of

log = logging.getLogger(__name__)

MODES = ("image", "text", "fused")
EXACT = "exact"  # find the query product itself (text -> image: its own title must find its photo)


def precision_at_k(ranked: Sequence[int], relevant: set[int], k: int) -> float:
    return sum(1 for r in ranked[:k] if r in relevant) / k


def recall_at_k(ranked: Sequence[int], relevant: set[int], k: int) -> float:
    return sum(1 for r in ranked[:k] if r in relevant) / len(relevant) if relevant else 0.0


def ndcg_at_k(ranked: Sequence[int], relevant: set[int], k: int) -> float:
    dcg = sum(1.0 / math.log2(i + 2) for i, r in enumerate(ranked[:k]) if r in relevant)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(k, len(relevant))))
    return dcg / ideal if ideal else 0.0


def reciprocal_rank(ranked: Sequence[int], relevant: set[int], k: int) -> float:
    return next((1.0 / (i + 1) for i, r in enumerate(ranked[:k]) if r in relevant), 0.0)


METRICS: dict[str, Callable[[Sequence[int], set[int], int], float]] = {
    "P": precision_at_k, "R": recall_at_k, "NDCG": ndcg_at_k, "MRR": reciprocal_rank}


@dataclass
class EvalResult:
    catalog: str
    label: str
    k: int
    queries: int
    seed: int
    spaces: dict[str, str]
    scores: dict[str, dict[str, float]] = field(default_factory=dict)  # mode -> metric -> mean
    # mode -> the queries its means are over (an image query needs a readable photo: fewer than ``queries``)
    mode_queries: dict[str, int] = field(default_factory=dict)

    def table(self) -> str:
        w = max(10, len(f"NDCG@{self.k}") + 2)  # -k 100000 ran the column names together
        head = f"{'mode':<8}" + "".join(f"{m + '@' + str(self.k):>{w}}" for m in METRICS) + f"{'queries':>10}"
        rows = [f"{mode:<8}" + "".join(f"{v:>{w}.3f}" for v in vals.values())
                + f"{self.mode_queries.get(mode, self.queries):>10}" for mode, vals in self.scores.items()]
        relevant = "the product itself" if self.label == EXACT else f"same {self.label}"
        return "\n".join([f"{self.catalog}: relevant = {relevant}, {self.queries} queries", head, *rows])

    def to_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=2))


def relevance_sets(engine: Engine, label: str) -> dict[int, set[int]]:
    """pk -> the other products relevant to it under ``label`` ('exact': only the product itself)."""
    cat = engine.catalog
    if label == EXACT:
        return {int(pk): {int(pk)} for pk in cat.all_pks()}
    if label == "copurchase":
        out: dict[int, set[int]] = {}
        for a, b, _ in cat.copurchase_pairs():
            out.setdefault(a, set()).add(b)
            out.setdefault(b, set()).add(a)
        return out
    column = cat.attribute_column(label)
    if not column:
        raise AppError(f"The catalog has no '{label}' attribute to judge relevance by. "
                       f"Known: {', '.join([*cat.attribute_keys(), 'copurchase'])}.")
    groups: dict[str, set[int]] = {}
    for pk, value in column.items():
        groups.setdefault(value, set()).add(pk)
    return {pk: groups[value] - {pk} for pk, value in column.items()}


def sample_queries(relevant: dict[int, set[int]], n: int, seed: int, candidates: Sequence[int] | None = None) -> list[int]:
    pool = sorted(pk for pk in (candidates if candidates is not None else relevant) if relevant.get(pk))
    rng = random.Random(seed)
    return sorted(rng.sample(pool, min(n, len(pool))))


def evaluate(engine: Engine, label: str, n_queries: int = 500, k: int = 10, seed: int = 0,
             modes: Sequence[str] = MODES, query_pks: Sequence[int] | None = None,
             restrict_to: Sequence[int] | None = None,
             spaces: Sequence[str] | None = None) -> Generator[Progress, None, EvalResult]:
    """Generator yielding Progress; returns the :class:`EvalResult`.

    ``query_pks`` fixes the queries (e.g. a test split); ``restrict_to`` limits the searched
    products (e.g. to the test split), both optional.
    """
    relevant = relevance_sets(engine, label)
    within = None if restrict_to is None else tuple(sorted(int(p) for p in restrict_to))
    if within is not None:
        keep = set(within)
        relevant = {pk: rel & keep for pk, rel in relevant.items()}
    queries = sample_queries(relevant, n_queries, seed, query_pks)
    if not queries and label == "copurchase" and not engine.catalog.has_copurchases():
        raise AppError(f"{engine.catalog.name} has no co-purchase pairs to evaluate against: import them with "
                       "`vitrina import CATALOG PRODUCTS --pairs PAIRS.csv` (or File > Import Products…).")
    if not queries:
        among = "" if within is None else " among the products searched (the split asked for)"
        if label == EXACT:  # every product is its own answer: there is none
            raise AppError(f"No product to evaluate{among}" + (": the catalog has no products." if within is None
                                                                else "."))
        what = "a co-purchase" if label == "copurchase" else f"another product with the same {label}"
        raise AppError(f"No product has {what}{among}: nothing to evaluate.")
    searcher = Searcher(engine)
    why_not: dict[str, str] = {}  # mode -> why a query of it could not run
    takes = {m for n, s in engine.spaces.items() if not spaces or n in spaces for m in s.encoder.modalities}
    if "fused" in modes and len(takes) == 1:  # it repeated the one mode's figures as "fused"
        why_not["fused"] = f"the spaces searched take only {'images' if 'image' in takes else 'texts'}, so a " \
                           "photo and a text cannot be fused."
        modes = [m for m in modes if m != "fused"]
    sums = {m: {name: 0.0 for name in METRICS} for m in modes}
    counts = dict.fromkeys(modes, 0)
    products = {p.pk: p for p in engine.catalog.products(queries)}
    for done, pk in enumerate(queries, 1):
        product = products[pk]
        image = _query_image(product.image_path) if {"image", "fused"} & set(modes) else None
        for mode in modes:
            q = _mode_query(mode, product.title, image, k, () if label == EXACT else (pk,), within,
                            tuple(spaces) if spaces else None)
            if q is None:  # said only if nothing else stopped the mode: a space that takes no photo is the reason
                why_not.setdefault(mode, "the query products have no photo that can be read.")
                continue
            try:
                ranked = [h.pk for h in searcher.search(q)]
            except QueryError as exc:  # this mode cannot run in the chosen spaces (text in an image-only space)
                why_not[mode] = str(exc)
                continue
            counts[mode] += 1
            for name, fn in METRICS.items():
                sums[mode][name] += fn(ranked, relevant[pk], k)
        yield Progress(done, len(queries), f"query {done}/{len(queries)}")
    left_out = [f"{m}: {why_not[m]}" for m in modes if not counts[m]] + \
        ([f"fused: {why_not['fused']}"] if "fused" in why_not and "fused" not in modes else [])
    if not any(counts.values()):  # an empty table would look like a result
        raise AppError(f"No query could run in the modes asked for; {' '.join(left_out)}")
    for line in left_out:
        log.warning("left out of the evaluation: %s", line)
    result = EvalResult(engine.catalog.name, label, k, len(queries), seed,
                        {n: s.encoder_id for n, s in engine.spaces.items() if not spaces or n in spaces})
    result.scores = {m: {f"{name}@{k}": v / counts[m] for name, v in vals.items()}
                     for m, vals in sums.items() if counts[m]}
    result.mode_queries = {m: counts[m] for m in modes if counts[m]}
    fewer = [f"{m} {counts[m]}" for m in modes if 0 < counts[m] < len(queries)]
    if fewer:  # the modes are then compared over different queries
        log.warning("of the %d queries, only these ran in these modes (the others have no readable photo): %s",
                    len(queries), ", ".join(fewer))
    return result


def _query_image(path: str | None):
    if not path:
        return None
    try:
        return load_image(Path(path)).image
    except AppError:
        return None


def _mode_query(mode: str, title: str, image, k: int, exclude: tuple[int, ...], within, spaces) -> Query | None:
    common = dict(k=k, exclude=exclude, filters=Filters(pks=within), spaces=spaces)
    if mode == "text":
        return Query(text=title, **common)
    if image is None:
        return None
    return Query(image=image, **common) if mode == "image" else Query(image=image, text=title, **common)


def split_pks(engine: Engine, split: str, seed: int = 0, group_by: str | None = None) -> list[int]:
    """The catalog products in one split of the product-level train/val/test split (see core.train)."""
    groups = engine.catalog.attribute_column(group_by) if group_by else {}
    rows = engine.catalog.execute("SELECT pk, sku FROM products")
    return [pk for pk, sku in rows if split_of(groups.get(pk, sku), seed) == split]
