"""How well "goes with" finds held-out co-purchases: Recall@k and NDCG@k on test products whose pairs no
stage saw, against popularity and plain similarity, with bootstrap intervals and a yardstick (what the
same design's own co-purchases would give)."""
from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

from core.catalog import Catalog
from core.complement_evidence import Evidence, content_vectors
from core.complement_model import ComplementModel, check_encoders
from core.complement_splits import held_out_queries, product_split
from core.errors import AppError


def _ranked_metrics(ranked: np.ndarray, relevant: set[int], k: int) -> tuple[float, float]:
    from core.evaluate import ndcg_at_k, recall_at_k

    top = [int(p) for p in ranked[:k]]
    return recall_at_k(top, relevant, k), ndcg_at_k(top, relevant, k)


def evaluation_queries(catalog: Catalog, group_by: str | None = None, seed: int = 0,
                       split=None) -> dict[int, set[int]]:
    """The test products' held-out pairs (what an evaluation finds again); says so when there are none, which
    ``goes-with --eval`` asks before it learns anything."""
    rel = held_out_queries(catalog, product_split(catalog, group_by, seed) if split is None else split, "test")
    if not rel and group_by is not None and held_out_queries(catalog, product_split(catalog, None, seed), "test"):
        values = Counter(catalog.attribute_column(group_by).values())
        groups = f"{len(values):,} group{'s' if len(values) != 1 else ''} of products"
        largest = f" (the largest holds {values.most_common(1)[0][1]:,} of {len(catalog):,})" if values else ""
        raise AppError(f"No test product of {catalog.name} has co-purchase pairs to hide and find again because "
                       f"products that share their {group_by} are kept together: {groups}{largest}, and no group "
                       "with co-purchase pairs was drawn for testing. Keep variants together by a column whose "
                       "values each name one design (--group-by COLUMN), or not at all (--group-by none).")
    if not rel:
        raise AppError(f"No test product of {catalog.name} has co-purchase pairs to hide and find again: the "
                       "catalog needs more pairs to be evaluated.")
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
    rel = evaluation_queries(catalog, group_by, seed, split)
    queries = [p for p in sorted(rel) if p in ev.row][:max_queries]
    if not queries:
        raise AppError(f"No test product of {catalog.name} that has co-purchase pairs to hide and find again has "
                       f"vectors in every content space ({len(rel)} test products have pairs).")
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
        out |= _intervals(scores["complement model"], scores[best], seed)
    return out


INTERVAL_QUERIES = 30  # test queries below which a bootstrap interval says more about the resampling than the catalog
RATIO_HITS = 10  # test queries the best plain similarity finds a pair for, at least, for an interval of the ratio
NO_INTERVAL = "95 % intervals"  # the key that says why an interval is not given


def _intervals(model: list[tuple[float, float]], base: list[tuple[float, float]], seed: int) -> dict:
    """95 % bootstrap intervals (BCa, queries resampled; for the ratio, both methods on the same queries)
    of the model's Recall@k and of its ratio to the best plain similarity: how far the test products'
    sample lets the figures move. Where the sample cannot say, no interval but why: too few queries, or a
    similarity that finds so few pairs that resamples where it finds none make the ratio unbounded."""
    from scipy.stats import bootstrap

    m, b = np.array([r for r, _ in model]), np.array([r for r, _ in base])
    if len(m) < INTERVAL_QUERIES:
        return {NO_INTERVAL: f"not given: {len(m)} test queries, at least {INTERVAL_QUERIES} are needed"}
    if m.std() == 0:  # a degenerate sample: nothing to resample
        return {NO_INTERVAL: f"not given: the complement model's R@k is {m[0]:.3g} on every test query"}
    common = {"n_resamples": 2000, "vectorized": True, "random_state": np.random.default_rng(seed)}
    recall = bootstrap((m,), np.mean, **common).confidence_interval
    out = {"complement model R@k, 95 % interval": [round(float(recall.low), 4), round(float(recall.high), 4)]}
    hits = int((b > 0).sum())
    if hits < RATIO_HITS:
        return out | {NO_INTERVAL: f"none for the ratio: the best plain similarity finds a held-out pair for {hits} "
                                   f"of the {len(b)} test queries, at least {RATIO_HITS} are needed"}
    ratio = bootstrap((m, b), lambda m, b, axis=-1: m.mean(axis) / np.maximum(b.mean(axis), 1e-9), paired=True,
                      **common).confidence_interval
    return out | {"ratio to best plain similarity, 95 % interval": [round(float(ratio.low), 3),
                                                                     round(float(ratio.high), 3)]}


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
