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

import json
import logging
import math
import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from core.catalog import Catalog
from core.errors import AppError, Cancelled
from core.progress import Progress
from core.splits import fold_of, split_of
from core.trees import TreeEnsemble

log = logging.getLogger(__name__)

CONTENT_SPACES = ("vit", "text")
SIMILARITY_SPACES = ("vit", "text", "image")
MAX_FIELD_VALUES = 300  # attributes with more distinct values are not used as evidence
CANDIDATES = 200  # per first-stage list
TEMPERATURE = 0.1  # of stage 1's InfoNCE (0.05 before; the probes are in docs/BENCHMARKS.md)
FOLDS = 2  # of the training products, for the cross-fitted ranker rows (4 folds: R@10 0.0900, not 0.0937, and slower)
TREE_MIN_PAIRS = 5000  # pairs between training products needed for the cross-fitted tree ranker
FOLD_QUERIES = 5000  # at most, per fold (H&M: about 2,000, each with about 1,000 candidates)
NEGATIVE_RATE = 0.25  # of the candidates that were not bought, the share the tree ranker learns from
TREE_PARAMS = {"max_iter": 200, "learning_rate": 0.05, "max_leaf_nodes": 31, "min_samples_leaf": 200,
               "early_stopping": False}  # a fixed number of trees: early stopping's random hold-out moved R@10 by 5 %
ATTRIBUTE_WEIGHT = 0.3  # of the attribute one-hots in stage 1's content, next to the unit-length vectors
PROPAGATION = 1.0  # weight of its partners' vectors (degree-normalised) in a bought product's candidate vector
INTERNAL_ATTRIBUTES = ("image_quality",)  # set by the import, not a property of the product


@dataclass
class ComplementModel:
    w_query: np.ndarray  # (d, r) stage 1, query side
    w_cand: np.ndarray  # (d, r) stage 1, candidate side
    spaces: tuple[str, ...]  # content spaces of stage 1
    sim_spaces: tuple[str, ...]  # spaces whose plain similarity is a ranker feature
    fields: tuple[str, ...]  # category fields of the compatibility features
    compat: dict[str, dict[str, dict[str, float]]]  # field -> value of a -> value of b -> log P(b | a)
    pairs: np.ndarray  # (P, 2) the pairs learned from as the catalog lists them: (product, a partner of it)
    features: tuple[str, ...]
    mean: np.ndarray  # ranker: feature standardisation and logistic-regression weights
    scale: np.ndarray
    coef: np.ndarray
    bias: float  # the logistic regression's intercept; with trees, what turns their score into log-odds
    info: dict = field(default_factory=dict)
    group_fields: tuple[str, ...] = ()  # attributes of the "often bought with this ..." features
    item_pks: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # products with a learned vector
    item_vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))  # (items, r)
    attribute_values: dict[str, list[str]] = field(default_factory=dict)  # stage 1's one-hot attribute columns
    trees: TreeEnsemble | None = None  # the ranker when set (mean, scale and coef then unused)

    @property
    def degree(self) -> dict[int, int]:
        """pk -> how often the learned pairs list it as a product's partner (models saved before v7 list every
        pair both ways: there, its co-purchases). A source lists each product's strongest partners (H&M: up to
        six), so how often a product is listed, not how many it lists, says how much it is bought with others."""
        return dict(Counter(self.pairs[:, 1].tolist()))

    def save(self, path: Path) -> None:
        """Written beside ``path`` and moved over it, so a reader never sees half a file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")  # numpy adds .npz to a name without it
        np.savez(tmp, w_query=self.w_query, w_cand=self.w_cand, mean=self.mean, scale=self.scale, coef=self.coef,
                 pairs=self.pairs, item_pks=self.item_pks, item_vectors=self.item_vectors,
                 meta=json.dumps({"spaces": self.spaces, "sim_spaces": self.sim_spaces, "fields": self.fields,
                                  "compat": self.compat, "features": self.features, "bias": self.bias,
                                  "group_fields": self.group_fields, "info": self.info,
                                  "attribute_values": self.attribute_values}),
                 **(self.trees.arrays("trees_") if self.trees is not None else {}))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> ComplementModel:
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                return cls(z["w_query"], z["w_cand"], tuple(meta["spaces"]), tuple(meta["sim_spaces"]),
                           tuple(meta["fields"]), meta["compat"], z["pairs"], tuple(meta["features"]),
                           z["mean"], z["scale"], z["coef"], float(meta["bias"]), meta["info"],
                           tuple(meta["group_fields"]), z["item_pks"], z["item_vectors"], meta["attribute_values"],
                           TreeEnsemble.from_arrays(z, "trees_") if "trees_roots" in z.files else None)
        except (KeyError, ValueError, OSError) as exc:
            raise AppError(f"{path} is not a complement model of this version ({exc}); train it again "
                           "with `vitrina goes-with CATALOG --train`.") from exc

    def contributions(self, feats: np.ndarray) -> np.ndarray:
        """Per candidate and feature, its share of the ranker's score: weight x standardised value, or
        with trees the moves of the score at that feature's splits along each tree's path."""
        if self.trees is not None:
            return self.trees.contributions(feats)
        return (feats - self.mean) / self.scale * self.coef

    def score(self, feats: np.ndarray) -> np.ndarray:
        """The ranker's log-odds that each candidate is bought with the product."""
        if self.trees is not None:
            return self.trees.decision(feats) + self.bias
        return self.contributions(feats).sum(axis=1) + self.bias


def content_vectors(catalog: Catalog, spaces=CONTENT_SPACES,
                    attributes: dict[str, list[str]] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(pks, content) for products that have vectors in every space: their unit vectors concatenated
    (unit length in all), then one column per attribute value in ``attributes`` (1 where the product
    has that value, times ATTRIBUTE_WEIGHT; a value the vocabulary lacks gets no column)."""
    parts = [dict(zip(*catalog.embeddings(s))) for s in spaces]
    pks = sorted(set.intersection(*(set(p) for p in parts))) if parts else []
    if not pks:
        have = ", ".join(f"{s} {len(p)}" for s, p in zip(spaces, parts))
        raise AppError(f"No product has vectors in all of {', '.join(spaces)} (products with vectors: {have}). "
                       "The image spaces need product photos; if the products have them, run `vitrina index`.")
    x = np.concatenate([np.stack([p[k] for k in pks]) for p in parts], axis=1) / math.sqrt(len(spaces))
    pks = np.asarray(pks, np.int64)
    if attributes:
        x = np.concatenate([x, attribute_onehots(catalog, pks, attributes)], axis=1)
    return pks, x.astype(np.float32)


def attribute_onehots(catalog: Catalog, pks: np.ndarray, attributes: dict[str, list[str]]) -> np.ndarray:
    """(products, values) ATTRIBUTE_WEIGHT where product ``pks[r]`` has the value, per field of ``attributes``."""
    columns = []
    for f, values in attributes.items():
        index = {v: j for j, v in enumerate(values)}
        col = catalog.attribute_column(f)
        onehot = np.zeros((len(pks), len(values)), np.float32)
        hits = [(r, index[col[int(pk)]]) for r, pk in enumerate(pks) if col.get(int(pk)) in index]
        if hits:
            onehot[tuple(np.array(hits).T)] = ATTRIBUTE_WEIGHT
        columns.append(onehot)
    return np.concatenate(columns, axis=1) if columns else np.zeros((len(pks), 0), np.float32)


def product_groups(catalog: Catalog, group_by: str | None) -> dict[int, str]:
    """pk -> what keeps products together in a split: their ``group_by`` value, else their own id."""
    groups = catalog.attribute_column(group_by) if group_by else {}
    return {pk: groups.get(pk, sku) for pk, sku in catalog.execute("SELECT pk, sku FROM products")}


DESIGN_WORDS = ("product_code", "design", "style", "model", "parent", "family", "group")
MAX_VARIANTS = 5.0  # products per design value, on average, at most: more is a brand or a kind, not a design


def variant_columns(catalog: Catalog) -> list[str]:
    """The attributes that could name a design its variants share: not a category field, and each
    value shared by a few products (at most ``MAX_VARIANTS`` on average), not one value per product."""
    categories = set(catalog.category_fields())
    return [key for key, count, distinct in catalog.execute(
                "SELECT key, COUNT(*), COUNT(DISTINCT value) FROM attributes GROUP BY key ORDER BY key")
            if key not in categories and 1 < count / distinct <= MAX_VARIANTS]


def design_column(catalog: Catalog, among: list[str] | None = None) -> str | None:
    """The attribute that names the design a product's variants (other colours, sizes) share, if the
    catalog has one, e.g. H&M's product_code: among ``variant_columns``, one that nearly every product
    has and whose value at least a tenth of the products share with another; a name like
    "product_code" or "style" first, then the most values (``among``: those columns, when the caller
    has them already).
    Learning "Goes with" keeps a design's variants in one split, so that its ranker learns what a new
    design's complements are, as the evaluation tests it, not a new colour of a known design's."""
    n, found = len(catalog), []
    for key in variant_columns(catalog) if among is None else among:
        counts = Counter(catalog.attribute_column(key).values())
        have = sum(counts.values())
        if have >= 0.9 * n and sum(c for c in counts.values() if c > 1) >= 0.1 * have:
            found.append((any(w in key.lower() for w in DESIGN_WORDS), len(counts), key))
    return max(found)[2] if found else None


def product_split(catalog: Catalog, group_by: str | None, seed: int = 0) -> dict[int, str]:
    return {pk: split_of(group, seed) for pk, group in product_groups(catalog, group_by).items()}


class Evidence:
    """Everything the ranker's features need, aligned with ``pks``; built once per catalog and model."""

    def __init__(self, catalog: Catalog, model: ComplementModel, pks: np.ndarray, x: np.ndarray):
        from sklearn.feature_extraction.text import CountVectorizer

        self.pks, self.model = pks, model
        self.row = {int(p): i for i, p in enumerate(pks)}
        self.sims = {}
        for space in model.sim_spaces:
            vec = dict(zip(*catalog.embeddings(space)))
            self.sims[space] = np.stack([vec[int(p)] for p in pks]).astype(np.float32)
        cand = x @ model.w_cand
        if len(model.item_pks):
            have = np.array([self.row.get(int(p), -1) for p in model.item_pks])
            cand[have[have >= 0]] += model.item_vectors[have >= 0]
        self.cand = cand / (np.linalg.norm(cand, axis=1, keepdims=True) + 1e-9)
        query = x @ model.w_query
        self.query = query / (np.linalg.norm(query, axis=1, keepdims=True) + 1e-9)
        degree = model.degree  # derived from the training pairs: once, not per product
        self.logdeg = np.log1p(np.array([degree.get(int(p), 0) for p in pks], np.float32))
        self.codes, self.tables = {}, {}
        for f in model.fields:
            col = catalog.attribute_column(f)
            values = sorted(model.compat[f])
            index = {v: j for j, v in enumerate(values)}
            unknown = len(values)  # a value the training pairs never saw: the lowest compatibility
            self.codes[f] = np.array([index.get(col.get(int(p), ""), unknown) for p in pks])
            table = np.zeros((unknown + 1, unknown + 1), np.float32)
            table[:unknown, :unknown] = [[model.compat[f][a][b] for b in values] for a in values]
            floor = table[:unknown, :unknown].min() if unknown else 0.0
            table[unknown, :], table[:, unknown] = floor, floor
            self.tables[f] = table
        pair_rows = _pair_rows(model.pairs, self.row)
        self.groups = {f: _group_popularity(catalog.attribute_column(f), pks, pair_rows) for f in model.group_fields}
        self._last: tuple = (-1,)  # the last query's rows (``candidates``, then ``features``, ask for the same)
        by_pk = catalog.titles()
        titles = [by_pk.get(int(p), "") for p in pks]
        words = CountVectorizer(binary=True, token_pattern=r"(?u)\b\w\w+\b", lowercase=True)
        try:
            self.words = words.fit_transform(titles).astype(np.float32).tocsr()
        except ValueError:  # no title has a word
            from scipy.sparse import csr_matrix
            self.words = csr_matrix((len(pks), 1), dtype=np.float32)
        self.nwords = np.asarray(self.words.sum(axis=1)).ravel()

    def candidates(self, i: int, n: int = CANDIDATES) -> np.ndarray:
        """Rows worth ranking for the product at row ``i``: the top ``n`` by each plain similarity, by
        the learned complementarity and by how often they are bought (the ranker's first stage)."""
        sims, groups = self._query_rows(i)
        lists = [*sims, self.cand @ self.query[i], self.logdeg]
        if groups:
            lists.append(sum(groups))
        n = min(n, len(self.pks) - 1)
        rows = set()
        for scores in lists:
            rows.update(np.argpartition(-scores, n)[:n + 1].tolist())
        rows.discard(i)
        return np.array(sorted(rows), np.int64)

    def features(self, i: int, cand: np.ndarray | None = None) -> np.ndarray:
        """(candidates, features) for the product at row ``i``; all products when ``cand`` is None."""
        j = np.arange(len(self.pks)) if cand is None else cand
        sims, groups = self._query_rows(i)
        cols = [sim[j] for sim in sims]
        cols.append(self.cand[j] @ self.query[i])
        cols.append(self.logdeg[j])
        for f in self.model.fields:
            a, b = self.codes[f][i], self.codes[f][j]
            cols.append(self.tables[f][a, b])
            cols.append(((b == a) & (a < len(self.tables[f]) - 1)).astype(np.float32))
        shared = np.asarray((self.words[j] @ self.words[i].T).todense()).ravel()
        union = self.nwords[j] + self.nwords[i] - shared
        cols.append(np.where(union > 0, shared / np.maximum(union, 1), 0.0))
        cols += [rows[j] for rows in groups]
        return np.stack(cols, axis=1).astype(np.float32)

    def _query_rows(self, i: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """For row ``i``, over all rows: the plain similarity per space, and per group field (in
        ``model.group_fields`` order) log(1 + how often each product was bought with a product sharing
        row ``i``'s value of it). Kept for the last ``i``, which ``candidates`` and then ``features``
        both ask for (read into a local first: callers may share the evidence)."""
        last = self._last
        if last[0] != i:
            last = (i, [self.sims[s] @ self.sims[s][i] for s in self.model.sim_spaces],
                    [counts[codes[i]].toarray().ravel() for codes, counts in
                     (self.groups[f] for f in self.model.group_fields)])
            self._last = last
        return last[1:]


def _pair_rows(pairs: np.ndarray, row: dict[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The training pairs (pk, pk) as rows of ``row``, pairs of products without vectors left out."""
    a, b = (np.array([row.get(int(p), -1) for p in side], np.int64) for side in np.asarray(pairs).reshape(-1, 2).T)
    keep = (a >= 0) & (b >= 0)
    return a[keep], b[keep]


def _group_popularity(column: dict[int, str], pks: np.ndarray, pair_rows: tuple[np.ndarray, np.ndarray]):
    """(value code per row, sparse (values + 1, rows) log1p counts of the pairs a -> b, b listed as a's
    partner, per value of a). The last code is "no value", which counts nothing."""
    from scipy.sparse import csr_matrix

    values = sorted(set(column.values()))
    index = {v: k for k, v in enumerate(values)}
    codes = np.array([index.get(column.get(int(p)), len(values)) for p in pks], np.int64)
    a, b = codes[pair_rows[0]], pair_rows[1]
    keep = a < len(values)
    counts = csr_matrix((np.ones(int(keep.sum()), np.float32), (a[keep], b[keep])), shape=(len(values) + 1, len(pks)))
    counts.sum_duplicates()
    counts.data = np.log1p(counts.data)
    return codes, counts


def feature_names(sim_spaces, fields, group_fields=()) -> tuple[str, ...]:
    names = [f"similar ({s})" for s in sim_spaces] + ["learned from co-purchases", "often bought"]
    for f in fields:
        names += [f"category pairing ({f})", f"same {f}"]
    return tuple(names + ["shared title words"] + [f"often bought with this {f}" for f in group_fields])


def _train_pairs(stored, row, split, splits=("train",), directed: bool = False) -> list[tuple[int, int]]:
    """Pairs between products of ``splits`` as rows, from the catalog's ``stored`` (a, b, weight) pairs, each
    pair once (a catalog may store both directions);
    ``directed``: as the catalog lists them, (product, its partner), a pair listed both ways twice."""
    def key(a, b):
        return (row[a], row[b]) if directed else (min(row[a], row[b]), max(row[a], row[b]))

    return sorted({key(a, b) for a, b, _ in stored
                   if a in row and b in row and split.get(a) in splits and split.get(b) in splits})


def _content_model(x: np.ndarray, pairs: np.ndarray, rank: int, epochs: int, seed: int,
                   after_epoch=lambda epoch: None):
    """(w_query, w_cand, item vectors): a pair (a, b) scores cos(x_a w_query, x_b w_cand + v_b); v is
    learned for every product and is zero for products that are never bought with another.
    ``after_epoch(epoch)`` is called after each epoch (1-based) and may raise to stop."""
    import torch
    from torch.nn import functional as F

    from core import runtime

    runtime.configure()
    torch.manual_seed(seed)
    xt = torch.from_numpy(x)
    wq = torch.nn.Linear(x.shape[1], rank, bias=False)
    wc = torch.nn.Linear(x.shape[1], rank, bias=False)
    items = torch.nn.Embedding(len(x), rank)
    torch.nn.init.zeros_(items.weight)
    opt = torch.optim.AdamW([*wq.parameters(), *wc.parameters(), *items.parameters()], lr=2e-3, weight_decay=1e-4)
    gen = torch.Generator().manual_seed(seed)
    for epoch in range(1, epochs + 1):
        order = torch.randperm(len(pairs), generator=gen).numpy()
        for i in range(0, len(order), 512):
            batch = pairs[order[i:i + 512]]
            q = F.normalize(wq(xt[batch[:, 0]]), dim=-1)
            c = F.normalize(wc(xt[batch[:, 1]]) + items(torch.from_numpy(batch[:, 1])), dim=-1)
            loss = F.cross_entropy(q @ c.T / TEMPERATURE, torch.arange(len(batch)))
            opt.zero_grad()
            loss.backward()
            opt.step()
        after_epoch(epoch)
    return wq.weight.detach().numpy().T.copy(), wc.weight.detach().numpy().T.copy(), items.weight.detach().numpy()


def _propagate(x: np.ndarray, w_cand: np.ndarray, items: np.ndarray, pairs: np.ndarray,
               alpha: float = PROPAGATION) -> np.ndarray:
    """Item vectors whose candidate vectors are smoothed over the training pairs' graph (one LightGCN-style
    step: c' = c + alpha * sum of partners' c / sqrt(deg a * deg b), c unit length): what is bought with a
    product's partners is likely bought with it. A product without pairs keeps a zero item vector."""
    from scipy.sparse import csr_matrix

    n = len(x)
    graph = csr_matrix((np.ones(len(pairs), np.float32), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    graph.data[:] = 1.0  # a pair listed twice is one edge
    degree = np.asarray(graph.sum(axis=1)).ravel()
    inv = 1.0 / np.sqrt(np.maximum(degree, 1.0))
    content = x @ w_cand
    cand = content + items
    cand /= np.linalg.norm(cand, axis=1, keepdims=True) + 1e-9
    smoothed = cand + alpha * inv[:, None] * (graph @ (inv[:, None] * cand))
    out = (smoothed - content).astype(np.float32)
    out[degree == 0] = 0.0
    return out


def _compatibility(catalog: Catalog, fields, pairs_pk) -> dict[str, dict[str, dict[str, float]]]:
    out = {}
    for f in fields:
        col = catalog.attribute_column(f)
        values = sorted(set(col.values()))
        counts: dict[str, Counter] = defaultdict(Counter)
        for a, b in pairs_pk:
            if a in col and b in col:
                counts[col[a]][col[b]] += 1
        out[f] = {}
        for va in values:
            total = sum(counts[va].values()) + len(values)
            out[f][va] = {vb: math.log((counts[va][vb] + 1) / total) for vb in values}
    return out


def _usable_fields(catalog: Catalog) -> tuple[str, ...]:
    return tuple(f for f in catalog.category_fields() if 2 <= len(catalog.field_values(f)) <= MAX_FIELD_VALUES)


def _group_fields(catalog: Catalog) -> tuple[str, ...]:
    """Every attribute that groups products (category fields first, then the others the import kept)."""
    keys = list(dict.fromkeys([*catalog.category_fields(), *catalog.attribute_keys()]))
    return tuple(f for f in keys if f not in INTERNAL_ATTRIBUTES
                 and 2 <= len(catalog.field_values(f)) <= MAX_FIELD_VALUES)


def _ranker_rows(ev: Evidence, queries: dict[int, set[int]], limit: int = 1500,
                 sample: np.random.Generator | None = None, check=lambda: None):
    """Features of each query's first-stage candidates, labelled by whether they were bought with it;
    with ``sample``, every bought candidate and NEGATIVE_RATE of the others, drawn query by query (the
    tree ranker's rows: all of them would be millions on H&M). ``check()`` is called every 100 queries
    (a fold's rows take half a minute on H&M: Cancel should not wait for them)."""
    xs, ys = [], []
    for n, pk in enumerate(sorted(queries)[:limit]):
        if n % 100 == 0:
            check()
        i = ev.row.get(pk)
        pos = [ev.row[q] for q in queries[pk] if q in ev.row and q != pk]
        if i is None or not pos:
            continue
        j = ev.candidates(i)
        y = np.isin(j, pos)
        if sample is not None:
            keep = y | (sample.random(len(j)) < NEGATIVE_RATE)
            j, y = j[keep], y[keep]
        xs.append(ev.features(i, j))
        ys.append(y)
    return (np.concatenate(xs), np.concatenate(ys)) if xs else (None, None)


ALL_SPLITS = ("train", "val", "test")
MIN_PAIRS = 50  # between training products, for stage 1
EVALUATION_SPLITS = ("train", "val")  # what an evaluated model may learn from


def train_complements(catalog: Catalog, group_by: str | None = None, spaces=CONTENT_SPACES, rank: int = 128,
                      epochs: int = 30, seed: int = 0, learn_from: tuple[str, ...] = ALL_SPLITS,
                      on_progress=lambda p: None, cancelled=lambda: False,
                      folds: int = FOLDS, tree_min_pairs: int = TREE_MIN_PAIRS) -> ComplementModel:
    """The model of ``train_complement_models`` for one ``learn_from``."""
    return train_complement_models(catalog, group_by, spaces, rank, epochs, seed, (learn_from,), on_progress,
                                   cancelled, folds, tree_min_pairs)[0]


def train_complement_models(catalog: Catalog, group_by: str | None = None, spaces=CONTENT_SPACES, rank: int = 128,
                            epochs: int = 30, seed: int = 0, learn_from: tuple[tuple[str, ...], ...] = (ALL_SPLITS,),
                            on_progress=lambda p: None, cancelled=lambda: False,
                            folds: int = FOLDS, tree_min_pairs: int = TREE_MIN_PAIRS) -> list[ComplementModel]:
    """Stage 1 on the pairs between training products, the ranker on validation products' pairs (pairs
    stage 1 did not see, as a new product's are); then, per entry of ``learn_from``, a model: stage 1, the
    compatibility and the popularity again on the pairs among the products of those splits (all of them
    for the application; training and validation products for an evaluation, whose test products' pairs
    stay hidden), under the same ranker. Both models of ``goes-with --train --eval`` share what comes
    before: the same split and seed fit the same ranker.

    With at least ``tree_min_pairs`` pairs between training products, the training products are also
    divided into ``folds`` folds; a stage 1 learned without each fold's pairs scores that fold's products,
    whose rows join the validation products' and the ranker is boosted trees (cross-fitting).

    ``on_progress`` gets a ``Progress`` after every epoch and stage; ``cancelled()`` is asked as often,
    and when it turns true, ``Cancelled`` is raised (nothing is written: the caller saves the model)."""
    from sklearn.linear_model import LogisticRegression

    base_pks, base_x = content_vectors(catalog, spaces)
    row = {int(p): i for i, p in enumerate(base_pks)}
    split = product_split(catalog, group_by, seed)
    stored = catalog.copurchase_pairs()  # read once: learning selects from them many times
    pairs, mores = _train_pairs(stored, row, split), [_train_pairs(stored, row, split, lf) for lf in learn_from]
    if len(pairs) < MIN_PAIRS:
        raise AppError(f"Learning complements needs at least {MIN_PAIRS} co-purchase pairs among the products it "
                       f"learns from first (about 80 % of them; the pairs of the others fit its ranker); "
                       f"{catalog.name} has {len(pairs)} there, and {max(map(len, mores))} pairs between products "
                       "with vectors in all. Import more co-purchase pairs.")
    fields, group_fields = _usable_fields(catalog), _group_fields(catalog)
    have = set(catalog.spaces())
    sim_spaces = tuple(s for s in SIMILARITY_SPACES if s in have)
    names = feature_names(sim_spaces, fields, group_fields)
    again = sum(len(more) > len(pairs) for more in mores)
    crossfit = folds >= 2 and len(pairs) >= tree_min_pairs
    fits = 1 + (folds if crossfit else 0) + again  # stage 1 fits, each ``epochs`` steps
    total = epochs * fits + 1
    done = 0

    def check() -> None:
        if cancelled():
            raise Cancelled("Learning \"Goes with\" was cancelled; the model saved before (if any) stays.")

    def step(message: str) -> None:
        nonlocal done
        check()
        done += 1
        on_progress(Progress(done, total, message))

    def stage_one(pairs, listed, what: str):
        pairs_np = np.asarray(pairs + [(b, a) for a, b in pairs], np.int64)
        # the attribute values of the products in the pairs: a value none of them has would get a
        # column whose weights never learn (noise on the products that have it)
        in_pairs = {int(base_pks[r]) for r in np.unique(pairs_np)}
        attribute_values = {f: sorted({v for pk, v in catalog.attribute_column(f).items() if pk in in_pairs})
                            for f in group_fields}
        x = np.concatenate([base_x, attribute_onehots(catalog, base_pks, attribute_values)], axis=1)
        w_query, w_cand, vectors = _content_model(
            x, pairs_np, rank, epochs, seed,
            lambda e: step(f"Goes with: learning from {len(pairs):,} {what} (epoch {e} of {epochs})"))
        vectors = _propagate(x, w_cand, vectors, pairs_np)
        bought = np.unique(pairs_np[:, 1])
        pairs_pk = base_pks[pairs_np]
        listed = base_pks[np.asarray(listed, np.int64).reshape(-1, 2)]
        model = ComplementModel(w_query, w_cand, tuple(spaces), sim_spaces, fields,
                                _compatibility(catalog, fields, pairs_pk.tolist()), listed, names,
                                np.zeros(len(names)), np.ones(len(names)), np.zeros(len(names)), 0.0,
                                {"pairs": len(pairs), "epochs": epochs, "rank": rank, "temperature": TEMPERATURE,
                                 "propagation": PROPAGATION, "encoders": _encoders(catalog, spaces, sim_spaces)},
                                group_fields, base_pks[bought], vectors[bought].astype(np.float32), attribute_values)
        return model, x

    on_progress(Progress(0, total, f"Goes with: learning from {len(pairs):,} pairs of training products"))
    model, x = stage_one(pairs, _train_pairs(stored, row, split, directed=True), "pairs of training products")
    ev = Evidence(catalog, model, base_pks, x)
    fit_on = "validation"
    sample = np.random.default_rng(seed) if crossfit else None
    xs, ys = _ranker_rows(ev, _held_out_queries(catalog, split, "val", stored), sample=sample, check=check)
    if xs is None or ys.sum() < 20:  # a small catalog: fit on training products' pairs instead
        fit_on = "training"
        xs, ys = _ranker_rows(ev, _held_out_queries(catalog, split, "train", stored), sample=sample, check=check)
    if crossfit:
        rows = [(xs, ys)] if xs is not None else []
        fold = {pk: fold_of(g, folds, seed) for pk, g in product_groups(catalog, group_by).items()
                if split[pk] == "train"}
        for f in range(folds):
            # this fold's training products play the validation products' part: their pairs are unseen
            fsplit = {pk: ("fold" if fold.get(pk) == f else s) for pk, s in split.items()}
            fpairs = _train_pairs(stored, row, fsplit)
            fmodel, fx = stage_one(fpairs, _train_pairs(stored, row, fsplit, directed=True),
                                   f"pairs of training products outside fold {f + 1} of {folds}")
            fx_, fy = _ranker_rows(Evidence(catalog, fmodel, base_pks, fx),
                                   _held_out_queries(catalog, fsplit, "fold", stored), FOLD_QUERIES, sample, check)
            if fx_ is not None:
                rows.append((fx_, fy))
        xs, ys = (np.concatenate(r) for r in zip(*rows))
        trees = TreeEnsemble.fit(xs, ys, seed, **TREE_PARAMS)
        fit_on += f" and cross-fitted training ({folds} folds)"
    else:
        mean, scale = xs.mean(axis=0), xs.std(axis=0) + 1e-6
        lr = LogisticRegression(C=1.0, max_iter=2000).fit((xs - mean) / scale, ys)
    step(f"Goes with: ranker fitted on {int(ys.sum()):,} held-out pairs")
    if crossfit:
        probe = xs[np.random.default_rng(seed).permutation(len(xs))[:20000]]
        importance = np.abs(trees.contributions(probe)).mean(axis=0)
    first, models = model, []
    for lf, more in zip(learn_from, mores):
        model = replace(first, info=dict(first.info))  # one object per entry, even with nothing more to learn
        if len(more) > len(pairs):
            model, _ = stage_one(more, _train_pairs(stored, row, split, lf, directed=True),
                                 "pairs, all that are learned from")
        model.info |= {"ranker_fit_on": fit_on, "ranker_rows": len(ys), "ranker_positives": int(ys.sum()),
                       "learned_from": list(lf), "split": {"group_by": group_by, "seed": seed}}
        if crossfit:
            # the trees learned from every bought candidate and NEGATIVE_RATE of the others: their log-odds
            # are log(1 / NEGATIVE_RATE) too high
            model.trees, model.bias = trees, math.log(NEGATIVE_RATE)
            model.info |= {"ranker": "boosted trees", "trees": len(trees.roots),
                           "importance": {n: round(float(v), 3) for n, v in zip(names, importance)}}
        else:
            model.mean, model.scale = mean, scale
            model.coef, model.bias = lr.coef_[0].astype(np.float64), float(lr.intercept_[0])
            model.info |= {"ranker": "logistic regression",
                           "weights": {n: round(float(c), 3) for n, c in zip(names, model.coef)}}
        models.append(model)
    return models


def _encoders(catalog: Catalog, spaces, sim_spaces) -> dict[str, str]:
    have = catalog.spaces()
    return {s: have.get(s, "") for s in dict.fromkeys((*spaces, *sim_spaces))}


def check_encoders(catalog: Catalog, model: ComplementModel) -> None:
    """A model learned on one encoder's vectors means nothing on another's (a retrained or adapted ViT)."""
    trained = model.info.get("encoders")
    if trained is None:
        return  # saved before models recorded their encoders
    now = _encoders(catalog, model.spaces, model.sim_spaces)
    changed = [f"{s} ({trained.get(s) or 'none'} -> {now[s] or 'none'})" for s in now if trained.get(s) != now[s]]
    if changed:
        raise AppError(f"The goes-with model of {catalog.name} was learned on other vectors than the catalog has now: "
                       f"{', '.join(changed)}. Train it again with `vitrina goes-with CATALOG --train`.")


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
    return "<1 %" if c.score < 0.005 else f"{c.score:.0%}".replace("%", " %")


def why(c: Complement) -> str:
    """The evidence in words: the pair's weight, or the model's chance and its strongest reasons."""
    if c.known:
        return f"bought together (co-purchase weight {c.evidence[KNOWN]:.3g})"
    reasons = ", ".join(f"{name} +{share:.2f}" for name, share in c.evidence.items())
    return f"predicted: {badge(c)} chance to be bought together" + (f"; evidence: {reasons}" if reasons else "")


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
                              {model.features[t]: round(float(parts[n, t]), 3) for t in top if parts[n, t] > 0}))
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
                model = ComplementModel.load(path) if key[0] is not None else None
                if model is not None:
                    check_encoders(self.catalog, model)
                    pks, x = content_vectors(self.catalog, model.spaces, model.attribute_values)
                    self._evidence = Evidence(self.catalog, model, pks, x)
                self._model, self._key = model, key
            model, evidence = self._model, self._evidence
        return recommend(self.catalog, model, pk, k, evidence=evidence)


def _ranked_metrics(ranked: np.ndarray, relevant: set[int], k: int) -> tuple[float, float]:
    from core.evaluate import ndcg_at_k, recall_at_k

    top = [int(p) for p in ranked[:k]]
    return recall_at_k(top, relevant, k), ndcg_at_k(top, relevant, k)


def _held_out_queries(catalog: Catalog, split: dict[int, str], which: str, stored=None) -> dict[int, set[int]]:
    """The products of split ``which`` and their partners (in any split), from ``stored`` pairs or the catalog's."""
    rel: dict[int, set[int]] = defaultdict(set)
    for a, b, _ in catalog.copurchase_pairs() if stored is None else stored:
        for p, q in ((a, b), (b, a)):
            if split.get(p) == which:
                rel[p].add(q)
    return rel


def evaluate_complements(catalog: Catalog, model: ComplementModel, group_by: str | None = None, seed: int = 0,
                         k: int = 10, max_queries: int = 1000) -> dict:
    """Recall@k and NDCG@k of held-out co-purchases of test products: the model, popularity, and plain
    similarity in every vector space and fused (the look-alikes the "similar" tab would show)."""
    check_encoders(catalog, model)
    learned = model.info.get("learned_from", ["train"])  # models saved before recorded it learned from training pairs
    trained_split = model.info.get("split", {"group_by": group_by, "seed": seed})
    if "test" in learned or trained_split != {"group_by": group_by, "seed": seed}:
        raise AppError("This goes-with model learned from pairs of the products it would be tested on "
                       f"(it learned from the {', '.join(learned)} products of the split {trained_split}); evaluate "
                       "a model trained with learn_from=EVALUATION_SPLITS on the same split.")
    pks, x = content_vectors(catalog, model.spaces, model.attribute_values)
    ev = Evidence(catalog, model, pks, x)
    split = product_split(catalog, group_by, seed)
    rel = _held_out_queries(catalog, split, "test")
    queries = [p for p in sorted(rel) if p in ev.row][:max_queries]
    popular = pks[np.argsort(-ev.logdeg, kind="stable")[:200]]
    scores: dict[str, list] = defaultdict(list)
    for p in queries:
        i = ev.row[p]
        cand = ev.candidates(i)
        ranked = pks[cand[np.argsort(-model.score(ev.features(i, cand)), kind="stable")]]
        scores["complement model"].append(_ranked_metrics(ranked, rel[p], k))
        scores["popularity"].append(_ranked_metrics(popular[popular != p], rel[p], k))
        fused = np.zeros(len(pks))
        for s in model.sim_spaces:
            sim = ev.sims[s] @ ev.sims[s][i]
            sim[i] = -np.inf
            fused += sim
            scores[f"plain similarity ({s})"].append(_ranked_metrics(pks[np.argsort(-sim)], rel[p], k))
        scores["plain similarity (fused)"].append(_ranked_metrics(pks[np.argsort(-fused)], rel[p], k))
    out = {"queries": len(queries), "k": k, "ranker_fit_on": model.info.get("ranker_fit_on"),
           **{name: _mean_metrics(v, k) for name, v in scores.items() if v}}
    if group_by:
        out["reference: co-purchases of the same group"] = _group_reference(catalog, group_by, queries, rel,
                                                                            scores["complement model"], k)
    plain = {name: v[f"R@{k}"] for name, v in out.items() if name.startswith("plain similarity")}
    if plain:
        best = max(plain, key=plain.get)
        out["best plain similarity R@k"] = plain[best]
        out["ratio to best plain similarity"] = out["complement model"][f"R@{k}"] / max(plain[best], 1e-9)
        if len(queries) >= 2:
            out |= _intervals(scores["complement model"], scores[best], seed)
    return out


def _intervals(model: list[tuple[float, float]], base: list[tuple[float, float]], seed: int) -> dict:
    """95 % bootstrap intervals (BCa, queries resampled; for the ratio, both methods on the same queries)
    of the model's Recall@k and of its ratio to the best plain similarity: how far the test products'
    sample lets the figures move."""
    from scipy.stats import bootstrap

    m, b = np.array([r for r, _ in model]), np.array([r for r, _ in base])
    if m.std() == 0 or b.std() == 0:  # a degenerate sample: nothing to resample
        return {}
    common = {"n_resamples": 2000, "vectorized": True, "random_state": np.random.default_rng(seed)}
    recall = bootstrap((m,), np.mean, **common).confidence_interval
    ratio = bootstrap((m, b), lambda m, b, axis=-1: m.mean(axis) / np.maximum(b.mean(axis), 1e-9), paired=True,
                      **common).confidence_interval
    return {"complement model R@k, 95 % interval": [round(float(recall.low), 4), round(float(recall.high), 4)],
            "ratio to best plain similarity, 95 % interval": [round(float(ratio.low), 3), round(float(ratio.high), 3)]}


def _mean_metrics(results: list[tuple[float, float]], k: int) -> dict[str, float]:
    return {f"R@{k}": float(np.mean([r for r, _ in results])), f"NDCG@{k}": float(np.mean([n for _, n in results]))}


def _group_reference(catalog: Catalog, group_by: str, queries: list[int], rel: dict[int, set[int]],
                     model_results: list[tuple[float, float]], k: int) -> dict:
    """What knowing the purchases of a query's own group would give (for H&M: the same design in other
    colours): its group-mates, then their co-purchases by summed weight. Not available to a new product
    (the group-mates are held out with it); a yardstick of how predictable the held-out pairs are."""
    groups = catalog.attribute_column(group_by)
    members: dict[str, list[int]] = defaultdict(list)
    for pk, g in groups.items():
        members[g].append(pk)
    weight: dict[int, Counter] = defaultdict(Counter)
    for a, b, w in catalog.copurchase_pairs():
        weight[a][b] += w
        weight[b][a] += w
    ref, mine = [], []
    for p, result in zip(queries, model_results):
        mates = [q for q in members.get(groups.get(p), ()) if q != p]
        if not mates:
            continue
        score: Counter = Counter({q: 1e9 for q in mates})  # the group-mates themselves first
        for q in mates:
            score.update(weight[q])
        score.pop(p, None)
        ranked = np.array([q for q, _ in score.most_common(k)], np.int64)
        ref.append(_ranked_metrics(ranked, rel[p], k))
        mine.append(result)
    if not ref:
        return {"queries": 0}
    return {"queries": len(ref), **_mean_metrics(ref, k), "complement model": _mean_metrics(mine, k)}


def model_path(catalog: Catalog) -> Path:
    return catalog.path.with_name(catalog.path.name + ".models") / "complements.npz"
