"""The evidence the "goes with" ranker weighs for a product and a candidate: the products' content
vectors, plain similarity per space, the learned complementarity, attribute compatibility, shared
title words and popularity among the buyers of each attribute value; and the first stage's candidates."""
from __future__ import annotations

import math

import numpy as np

from core.catalog import Catalog
from core.complement_model import ComplementModel
from core.errors import AppError

CONTENT_SPACES = ("vit", "text")
SIMILARITY_SPACES = ("vit", "text", "image")
CANDIDATES = 200  # per first-stage list
ATTRIBUTE_WEIGHT = 0.3  # of the attribute one-hots in stage 1's content, next to the unit-length vectors


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
