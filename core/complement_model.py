"""The learned "goes with" model: both stages' weights, the ranker and what they were learned on, saved
without pickle (``numpy.savez``) beside the catalog, and refused on vectors other than those it learned from."""
from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from core.catalog import Catalog
from core.errors import AppError
from core.trees import TreeEnsemble


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
    # pk -> sku of every product the model names (pairs, item_pks) when it learned: a catalog reuses the pk of a
    # product removed since for the next one added (None: a model saved before it kept them)
    skus: dict[int, str] | None = None

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
                 **(self.trees.arrays("trees_") if self.trees is not None else {}),
                 **({"sku_pks": np.fromiter(self.skus, np.int64, len(self.skus)),
                     "sku_names": np.array(list(self.skus.values()), dtype=str)} if self.skus else {}))
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
                           TreeEnsemble.from_arrays(z, "trees_") if "trees_roots" in z.files else None,
                           dict(zip(z["sku_pks"].tolist(), z["sku_names"].tolist())) if "sku_pks" in z.files else None)
        except Exception as exc:  # a truncated, emptied or damaged file fails anywhere in zipfile, zlib, numpy or json
            raise AppError(f"{path} is not a complement model of this version ({exc}); train it again "
                           "with `vitrina goes-with CATALOG --train`.") from exc

    def named(self, catalog: Catalog) -> ComplementModel:
        """The model with the pks it learned (``skus``) that are in ``catalog``, under their pks there now (the
        same unless products were removed and others added). Products removed since drop out: a new product
        given an old one's pk must not inherit what the old one was bought with."""
        if self.skus is None:  # saved before models kept their products' skus: taken as it is
            return self
        current = catalog.row_hashes(list(self.skus.values()))
        now = {pk: current[sku][0] if sku in current else -1 for pk, sku in self.skus.items()}
        if all(now[pk] == pk for pk in now):
            return self
        remap = np.vectorize(lambda pk: now.get(int(pk), -1), otypes=[np.int64])
        pairs = remap(self.pairs) if self.pairs.size else self.pairs
        keep_pairs = (pairs >= 0).all(axis=1) if pairs.size else np.zeros(0, bool)
        items = remap(self.item_pks) if self.item_pks.size else self.item_pks
        keep_items = items >= 0
        return replace(self, pairs=pairs[keep_pairs].reshape(-1, 2), item_pks=items[keep_items],
                       item_vectors=self.item_vectors[keep_items],
                       skus={int(now[pk]): sku for pk, sku in self.skus.items() if now[pk] >= 0})

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


def encoders_of(catalog: Catalog, spaces, sim_spaces) -> dict[str, str]:
    have = catalog.spaces()
    return {s: have.get(s, "") for s in dict.fromkeys((*spaces, *sim_spaces))}


def check_encoders(catalog: Catalog, model: ComplementModel) -> None:
    """A model learned on one encoder's vectors means nothing on another's (a retrained or adapted ViT)."""
    trained = model.info.get("encoders")
    if trained is None:
        return  # saved before models recorded their encoders
    now = encoders_of(catalog, model.spaces, model.sim_spaces)
    changed = [f"{s} ({trained.get(s) or 'none'} -> {now[s] or 'none'})" for s in now if trained.get(s) != now[s]]
    if changed:
        raise AppError(f"The goes-with model of {catalog.name} was learned on other vectors than the catalog has now: "
                       f"{', '.join(changed)}. Train it again with `vitrina goes-with CATALOG --train`.")


def model_path(catalog: Catalog) -> Path:
    return catalog.path.with_name(catalog.path.name + ".models") / "complements.npz"
