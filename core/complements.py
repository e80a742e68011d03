""""Goes with" recommendations: complements rather than look-alikes.

Known pairs come first: products bought together (the catalog's co-purchase pairs). Products
with none (new products) get complements from a model learned on those pairs, in the spirit of
McAuley et al. 2015 ("Image-based recommendations on styles and substitutes"): two linear maps
of the product's content vectors (ViT photo + MiniLM text) into a space where a product lies
close to what is bought with it (trained with in-batch InfoNCE). The final score adds an
attribute compatibility term, log P(category of b | category of a) from the training pairs.
Each recommendation says which evidence it used.
"""
from __future__ import annotations

import json
import logging
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.catalog import Catalog
from core.errors import AppError
from core.splits import split_of

log = logging.getLogger(__name__)

CONTENT_SPACES = ("vit", "text")


@dataclass
class ComplementModel:
    w_query: np.ndarray  # (d, r)
    w_cand: np.ndarray  # (d, r)
    field: str | None
    compat: dict[str, dict[str, float]]  # category of a -> category of b -> log P(b | a)
    weight: float  # of the compatibility term
    spaces: tuple[str, ...]
    info: dict = field(default_factory=dict)

    def save(self, path: Path) -> None:
        np.savez(path, w_query=self.w_query, w_cand=self.w_cand,
                 meta=json.dumps({"field": self.field, "compat": self.compat, "weight": self.weight,
                                  "spaces": self.spaces, "info": self.info}))

    @classmethod
    def load(cls, path: Path) -> "ComplementModel":
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            return cls(z["w_query"], z["w_cand"], meta["field"], meta["compat"], meta["weight"],
                       tuple(meta["spaces"]), meta["info"])


def content_vectors(catalog: Catalog, spaces=CONTENT_SPACES) -> tuple[np.ndarray, np.ndarray]:
    """(pks, concatenated unit vectors of every space) for products that have all of them."""
    parts = [dict(zip(*catalog.embeddings(s))) for s in spaces]
    pks = sorted(set.intersection(*(set(p) for p in parts))) if parts else []
    if not pks:
        raise AppError(f"No product has vectors in all of {', '.join(spaces)}: run `vitrina index` first.")
    x = np.concatenate([np.stack([p[k] for k in pks]) for p in parts], axis=1) / math.sqrt(len(spaces))
    return np.asarray(pks, np.int64), x.astype(np.float32)


def product_split(catalog: Catalog, group_by: str | None, seed: int = 0) -> dict[int, str]:
    groups = catalog.attribute_column(group_by) if group_by else {}
    return {pk: split_of(groups.get(pk, sku), seed) for pk, sku in catalog.execute("SELECT pk, sku FROM products")}


def train_complements(catalog: Catalog, group_by: str | None = None, field_name: str | None = None,
                      spaces=CONTENT_SPACES, rank: int = 128, epochs: int = 30, seed: int = 0) -> ComplementModel:
    """Learn from the co-purchase pairs of training products only (pairs touching val/test are held out)."""
    import torch
    from torch.nn import functional as F

    from core import runtime

    runtime.configure()
    torch.manual_seed(seed)
    pks, x = content_vectors(catalog, spaces)
    row = {int(p): i for i, p in enumerate(pks)}
    split = product_split(catalog, group_by, seed)
    pairs = [(row[a], row[b]) for a, b, _ in catalog.copurchase_pairs()
             if a in row and b in row and split.get(a) == split.get(b) == "train"]
    if len(pairs) < 50:
        raise AppError(f"Learning complements needs co-purchase pairs; {catalog.name} has {len(pairs)} usable ones.")
    pairs = np.asarray(pairs + [(b, a) for a, b in pairs], np.int64)
    xt = torch.from_numpy(x)
    wq = torch.nn.Linear(x.shape[1], rank, bias=False)
    wc = torch.nn.Linear(x.shape[1], rank, bias=False)
    opt = torch.optim.AdamW([*wq.parameters(), *wc.parameters()], lr=2e-3, weight_decay=1e-4)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(pairs), generator=gen).numpy()
        for i in range(0, len(order), 512):
            batch = pairs[order[i:i + 512]]
            q = F.normalize(wq(xt[batch[:, 0]]), dim=-1)
            c = F.normalize(wc(xt[batch[:, 1]]), dim=-1)
            loss = F.cross_entropy(q @ c.T / 0.05, torch.arange(len(batch)))
            opt.zero_grad()
            loss.backward()
            opt.step()
    field_name = field_name or _pair_field(catalog)
    compat = _compatibility(catalog, field_name, [(int(pks[a]), int(pks[b])) for a, b in pairs])
    model = ComplementModel(wq.weight.detach().numpy().T.copy(), wc.weight.detach().numpy().T.copy(), field_name,
                            compat, 0.0, tuple(spaces), {"pairs": int(len(pairs) // 2), "epochs": epochs, "rank": rank})
    model.weight = _tune_weight(catalog, model, split, pks, x)
    return model


def _pair_field(catalog: Catalog) -> str | None:
    fields = catalog.category_fields()
    counts = {f: len(catalog.field_values(f)) for f in fields}
    usable = [f for f, n in counts.items() if 3 <= n <= 60]
    return min(usable, key=counts.get) if usable else None


def _compatibility(catalog: Catalog, field_name: str | None, pairs) -> dict[str, dict[str, float]]:
    if not field_name:
        return {}
    col = catalog.attribute_column(field_name)
    values = sorted(set(col.values()))
    counts: dict[str, Counter] = defaultdict(Counter)
    for a, b in pairs:
        if a in col and b in col:
            counts[col[a]][col[b]] += 1
    out = {}
    for va in values:
        total = sum(counts[va].values()) + len(values)
        out[va] = {vb: math.log((counts[va][vb] + 1) / total) for vb in values}
    return out


@dataclass(frozen=True)
class Complement:
    pk: int
    score: float
    evidence: dict[str, float]  # "bought together", "learned from co-purchases", "category pairing"


def candidate_side(model: ComplementModel, x: np.ndarray) -> np.ndarray:
    """Every candidate projected and normalised once (the same for every query)."""
    c = x @ model.w_cand
    return c / (np.linalg.norm(c, axis=1, keepdims=True) + 1e-9)


def score_all(model: ComplementModel, catalog: Catalog, pk: int, pks: np.ndarray, x: np.ndarray,
              weight: float | None = None, cand: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(total, learned, compatibility) scores of every candidate in ``pks`` for product ``pk``;
    ``cand``: ``candidate_side(model, x)`` when scoring many queries."""
    i = int(np.searchsorted(pks, pk))
    if i >= len(pks) or pks[i] != pk:
        raise AppError("This product has no content vectors yet: run `vitrina index`.")
    q = x[i] @ model.w_query
    c = candidate_side(model, x) if cand is None else cand
    learned = (c @ q) / (np.linalg.norm(q) + 1e-9)
    compat = np.zeros(len(pks))
    if model.field and model.compat:
        col = catalog.attribute_column(model.field)
        row = model.compat.get(col.get(int(pk), ""), {})
        floor = min(row.values()) if row else 0.0
        compat = np.array([row.get(col.get(int(p), ""), floor) for p in pks]) if row else compat
    w = model.weight if weight is None else weight
    total = learned + w * compat
    total[i] = -np.inf
    return total, learned, compat


def recommend(catalog: Catalog, model: ComplementModel | None, pk: int, k: int = 20,
              content: tuple[np.ndarray, np.ndarray] | None = None) -> list[Complement]:
    """Known co-purchases first, then the model's complements; each with the evidence used."""
    out = [Complement(b, float(w), {"bought together": float(w)}) for b, w in catalog.copurchased(pk)[:k]]
    if model is None or len(out) >= k:
        return out
    pks, x = content or content_vectors(catalog, model.spaces)
    total, learned, compat = score_all(model, catalog, pk, pks, x)
    seen = {c.pk for c in out} | {pk}
    for j in np.argsort(-total):
        if len(out) >= k:
            break
        if int(pks[j]) in seen or not np.isfinite(total[j]):
            continue
        ev = {"learned from co-purchases": float(learned[j])}
        if model.field:
            ev["category pairing"] = float(compat[j])
        out.append(Complement(int(pks[j]), float(total[j]), ev))
    return out


def _ranked_metrics(ranked: np.ndarray, relevant: set[int], k: int) -> tuple[float, float]:
    from core.evaluate import ndcg_at_k, recall_at_k

    top = [int(p) for p in ranked[:k]]
    return recall_at_k(top, relevant, k), ndcg_at_k(top, relevant, k)


def _held_out_queries(catalog: Catalog, split: dict[int, str], which: str) -> dict[int, set[int]]:
    rel: dict[int, set[int]] = defaultdict(set)
    for a, b, _ in catalog.copurchase_pairs():
        for p, q in ((a, b), (b, a)):
            if split.get(p) == which:
                rel[p].add(q)
    return rel


def _tune_weight(catalog, model, split, pks, x) -> float:
    rel = _held_out_queries(catalog, split, "val")
    queries = [p for p in sorted(rel) if p in set(pks.tolist())][:300]
    cand = candidate_side(model, x)
    best, best_w = -1.0, 0.0
    for w in (0.0, 0.02, 0.05, 0.1, 0.2):
        r = np.mean([_ranked_metrics(pks[np.argsort(-score_all(model, catalog, p, pks, x, w, cand)[0])], rel[p],
                                     10)[0] for p in queries]) if queries else 0.0
        if r > best:
            best, best_w = r, w
    return best_w


def evaluate_complements(catalog: Catalog, model: ComplementModel, group_by: str | None = None, seed: int = 0,
                         k: int = 10, max_queries: int = 1000) -> dict:
    """Recall@k and NDCG@k of held-out co-purchases of test products: model, popularity, plain similarity."""
    pks, x = content_vectors(catalog, model.spaces)
    split = product_split(catalog, group_by, seed)
    rel = _held_out_queries(catalog, split, "test")
    have = set(pks.tolist())
    queries = [p for p in sorted(rel) if p in have][:max_queries]
    train_degree = Counter()
    for a, b, _ in catalog.copurchase_pairs():
        if split.get(a) == split.get(b) == "train":
            train_degree[a] += 1
            train_degree[b] += 1
    popular = np.asarray([p for p, _ in train_degree.most_common(200)], np.int64)
    vit = x[:, :x.shape[1] // len(model.spaces)] if model.spaces[0] == "vit" else x
    scores = {"complement model": [], "popularity": [], "plain similarity": []}
    cand = candidate_side(model, x)
    for p in queries:
        i = int(np.searchsorted(pks, p))
        total = score_all(model, catalog, p, pks, x, cand=cand)[0]
        scores["complement model"].append(_ranked_metrics(pks[np.argsort(-total)], rel[p], k))
        scores["popularity"].append(_ranked_metrics(popular[popular != p], rel[p], k))
        sim = vit @ vit[i]
        sim[i] = -np.inf
        scores["plain similarity"].append(_ranked_metrics(pks[np.argsort(-sim)], rel[p], k))
    return {"queries": len(queries), "k": k, "compat_weight": model.weight, "field": model.field,
            **{name: {f"R@{k}": float(np.mean([r for r, _ in v])), f"NDCG@{k}": float(np.mean([n for _, n in v]))}
               for name, v in scores.items() if v}}


def model_path(catalog: Catalog) -> Path:
    return catalog.path.with_name(catalog.path.name + ".models") / "complements.npz"
