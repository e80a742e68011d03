"""Learning "goes with" from co-purchase pairs (the two stages that ``core.complements`` describes): the
content model (in-batch InfoNCE, McAuley et al. 2015 in spirit), its smoothing over the pairs' graph,
the attribute compatibility, and the ranker fitted on held-out pairs (cross-fitted boosted trees, or
logistic regression on a small catalog)."""
from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import replace

import numpy as np

from core.catalog import INTERNAL_ATTRIBUTES, Catalog
from core.complement_evidence import (CONTENT_SPACES, SIMILARITY_SPACES, Evidence, attribute_onehots,
                                      content_vectors, feature_names)
from core.complement_model import ComplementModel, encoders_of
from core.complement_splits import ALL_SPLITS, held_out_queries, product_groups, product_split, train_pairs
from core.errors import AppError, Cancelled
from core.progress import Progress
from core.splits import fold_of
from core.trees import TreeEnsemble

MAX_FIELD_VALUES = 300  # attributes with more distinct values are not used as evidence
TEMPERATURE = 0.1  # of stage 1's InfoNCE (0.05 before; the probes are in docs/BENCHMARKS.md)
FOLDS = 2  # of the training products, for the cross-fitted ranker rows (4 folds: R@10 0.0900, not 0.0937, and slower)
TREE_MIN_PAIRS = 5000  # pairs between training products needed for the cross-fitted tree ranker
FOLD_QUERIES = 5000  # at most, per fold (H&M: about 2,000, each with about 1,000 candidates)
NEGATIVE_RATE = 0.25  # of the candidates that were not bought, the share the tree ranker learns from
TREE_PARAMS = {"max_iter": 200, "learning_rate": 0.05, "max_leaf_nodes": 31, "min_samples_leaf": 200,
               "early_stopping": False}  # a fixed number of trees: early stopping's random hold-out moved R@10 by 5 %
PROPAGATION = 1.0  # weight of its partners' vectors (degree-normalised) in a bought product's candidate vector
MIN_PAIRS = 50  # between training products, for stage 1
MIN_FOLD_PAIRS = 10  # between training products outside a fold, for its first stage
FEW_VALIDATION_PAIRS = 100  # fewer pairs of validation products: the ranker also learns from cross-fitted folds


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
    return tuple(f for f in catalog.grouping_attributes(MAX_FIELD_VALUES) if f not in INTERNAL_ATTRIBUTES)


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


def _check_both_kinds(catalog: Catalog, ys: np.ndarray | None) -> None:
    """The ranker learns what tells a bought candidate from one that was not: it needs both."""
    if ys is not None and 0 < ys.sum() < len(ys):
        return
    if ys is not None and ys.all():
        raise AppError(f"Nothing to learn \"Goes with\" from in {catalog.name}: every product the model could "
                       "suggest is already a known co-purchase of the products it learns from "
                       f"({len(ys):,} candidates, all bought together), so there is no example of a product that was "
                       "not chosen. \"Goes with\" shows the known co-purchases; a model needs products that are "
                       "bought with some products and not with others.")
    raise AppError(f"Nothing to learn \"Goes with\" from in {catalog.name}: none of the products the model could "
                   "suggest was bought with the products it learns from, so there is no example of a product that "
                   "was chosen. Import more co-purchase pairs.")


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

    With at least ``tree_min_pairs`` pairs between training products, or fewer than FEW_VALIDATION_PAIRS
    validation pairs, the training products are also divided into ``folds`` folds; a stage 1 learned without
    each fold's pairs scores that fold's products, whose rows join the validation products' (cross-fitting).
    With ``tree_min_pairs`` the ranker is boosted trees, below it logistic regression.

    ``on_progress`` gets a ``Progress`` after every epoch and stage; ``cancelled()`` is asked as often,
    and when it turns true, ``Cancelled`` is raised (nothing is written: the caller saves the model)."""
    from sklearn.linear_model import LogisticRegression

    base_pks, base_x = content_vectors(catalog, spaces)
    row = {int(p): i for i, p in enumerate(base_pks)}
    split = product_split(catalog, group_by, seed)
    stored = catalog.copurchase_pairs()  # read once: learning selects from them many times
    pairs, mores = train_pairs(stored, row, split), [train_pairs(stored, row, split, lf) for lf in learn_from]
    if len(pairs) < MIN_PAIRS:
        usable = max(map(len, mores))
        advice = (f"Only {usable:,} of its {len(stored):,} stored pairs are between products with vectors in all of "
                  f"{', '.join(spaces)}: the others involve products without a photo (add their photos, or re-index "
                  "if they have them)." if usable < len(stored) / 2 else "Import more co-purchase pairs.")
        raise AppError(f"Learning complements needs at least {MIN_PAIRS} co-purchase pairs among the products it "
                       f"learns from first (about 80 % of them; the pairs of the others fit its ranker); "
                       f"{catalog.name} has {len(pairs)} there, and {usable} pairs between products with vectors "
                       f"in all. {advice}")
    fields, group_fields = _usable_fields(catalog), _group_fields(catalog)
    have = set(catalog.spaces())
    sim_spaces = tuple(s for s in SIMILARITY_SPACES if s in have)
    names = feature_names(sim_spaces, fields, group_fields)
    again = sum(len(more) > len(pairs) for more in mores)
    crossfit = folds >= 2 and len(pairs) >= tree_min_pairs
    validation = held_out_queries(catalog, split, "val", stored)
    # too few validation pairs for even a linear ranker (its candidates find about half of them): the folds'
    # rows join theirs, decided now so that the progress counts their first stages
    folded = folds >= 2 and (crossfit or sum(map(len, validation.values())) < FEW_VALIDATION_PAIRS)
    fits = 1 + (folds if folded else 0) + again  # stage 1 fits, each ``epochs`` steps
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
                                 "propagation": PROPAGATION, "encoders": encoders_of(catalog, spaces, sim_spaces)},
                                group_fields, base_pks[bought], vectors[bought].astype(np.float32), attribute_values)
        return model, x

    on_progress(Progress(0, total, f"Goes with: learning from {len(pairs):,} pairs of training products"))
    model, x = stage_one(pairs, train_pairs(stored, row, split, directed=True), "pairs of training products")
    ev = Evidence(catalog, model, base_pks, x)
    fit_on = "validation"
    sample = np.random.default_rng(seed) if crossfit else None
    xs, ys = _ranker_rows(ev, validation, sample=sample, check=check)
    few = xs is None or ys.sum() < 20  # a small catalog: too few validation pairs to fit even a linear ranker
    if folded or (few and folds >= 2):
        # each fold's training products play the validation products' part: their pairs unseen by the first
        # stage that scores them (fitted on training pairs themselves, stage 1's own, the ranker trusted the
        # memorised "learned from co-purchases" 20 x more than on held-out pairs: new products have none)
        if not folded:
            total += epochs * folds  # first stages the progress did not count (rare: the estimate was short)
        rows = [(xs, ys)] if xs is not None else []
        fold = {pk: fold_of(g, folds, seed) for pk, g in product_groups(catalog, group_by).items()
                if split[pk] == "train"}
        folded_rows = 0
        for f in range(folds):
            fsplit = {pk: ("fold" if fold.get(pk) == f else s) for pk, s in split.items()}
            fpairs = train_pairs(stored, row, fsplit)
            if len(fpairs) < MIN_FOLD_PAIRS:  # e.g. one product in every pair (a gift card): none outside its fold
                done += epochs
                continue
            fmodel, fx = stage_one(fpairs, train_pairs(stored, row, fsplit, directed=True),
                                   f"pairs of training products outside fold {f + 1} of {folds}")
            fx_, fy = _ranker_rows(Evidence(catalog, fmodel, base_pks, fx),
                                   held_out_queries(catalog, fsplit, "fold", stored), FOLD_QUERIES, sample, check)
            if fx_ is not None:
                rows.append((fx_, fy))
                folded_rows += 1
        xs, ys = (np.concatenate(r) for r in zip(*rows)) if rows else (None, None)
        if folded_rows:
            fit_on += f" and cross-fitted training ({folds} folds)"
    if few and fit_on == "validation":  # no folds (asked for, or that could be learned): the training products'
        # pairs, which the first stage learned from too, and said so
        fit_on = "training"
        xs, ys = _ranker_rows(ev, held_out_queries(catalog, split, "train", stored), sample=sample, check=check)
    _check_both_kinds(catalog, ys)
    if crossfit:
        trees = TreeEnsemble.fit(xs, ys, seed, **TREE_PARAMS)
    else:
        mean, scale = xs.mean(axis=0), xs.std(axis=0) + 1e-6
        lr = LogisticRegression(C=1.0, max_iter=2000).fit((xs - mean) / scale, ys)
    step(f"Goes with: ranker fitted on {int(ys.sum()):,} " + ("pairs its first stage also learned from"
                                                              if fit_on == "training" else "held-out pairs"))
    if crossfit:
        probe = xs[np.random.default_rng(seed).permutation(len(xs))[:20000]]
        importance = np.abs(trees.contributions(probe)).mean(axis=0)
    first, models = model, []
    for lf, more in zip(learn_from, mores):
        model = replace(first, info=dict(first.info))  # one object per entry, even with nothing more to learn
        if len(more) > len(pairs):
            model, _ = stage_one(more, train_pairs(stored, row, split, lf, directed=True),
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
        model.skus = catalog.skus_of(np.concatenate([model.pairs.ravel(), model.item_pks]))
        models.append(model)
    return models
