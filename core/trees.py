"""A gradient-boosted tree ensemble as plain arrays: scores, and each feature's share of a score.

scikit-learn's ``HistGradientBoostingClassifier`` learns the trees (``TreeEnsemble.fit``); its
nodes are then copied into arrays, so that a model file holds numbers only (``np.load`` without
pickle) and reading it does not depend on scikit-learn's private classes staying as they are.

``contributions`` splits a score along each tree's path (Saabas): every split moves the score
from its node's value to its child's, and that move is the split feature's. The shares add up to
``decision(x) - expected``, where ``expected`` is the score before any split.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ARRAYS = ("feature", "threshold", "left", "right", "value", "missing_left", "is_leaf", "roots")


@dataclass
class TreeEnsemble:
    feature: np.ndarray  # (nodes,) int: the split's feature (leaves: 0, unused)
    threshold: np.ndarray  # (nodes,) float: x <= threshold goes left
    left: np.ndarray  # (nodes,) int: the children, as indices into these arrays
    right: np.ndarray
    value: np.ndarray  # (nodes,) float: the node's raw score, learning rate applied (internal nodes too)
    missing_left: np.ndarray  # (nodes,) bool: where a missing (NaN) value goes
    is_leaf: np.ndarray  # (nodes,) bool
    roots: np.ndarray  # (trees,) int
    baseline: float  # the raw score before the first tree (log-odds of the training rows' positive rate)

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, seed: int = 0, **params) -> TreeEnsemble:
        """Binary log-loss boosting of ``y`` on ``x`` (``params``: HistGradientBoostingClassifier's)."""
        from sklearn.ensemble import HistGradientBoostingClassifier

        return cls.from_sklearn(HistGradientBoostingClassifier(random_state=seed, **params).fit(x, y))

    @classmethod
    def from_sklearn(cls, model) -> TreeEnsemble:
        """The trees of a fitted binary ``HistGradientBoostingClassifier`` (numeric features only)."""
        trees = [t[0] for t in model._predictors]  # one tree per iteration for a binary problem
        if any(t.nodes["is_categorical"].any() for t in trees):
            raise ValueError("categorical splits are not supported")
        sizes = [len(t.nodes) for t in trees]
        offsets = np.cumsum([0] + sizes)
        nodes = np.concatenate([t.nodes for t in trees])
        shift = np.repeat(offsets[:-1], sizes)
        leaf = nodes["is_leaf"].astype(bool)
        # the grower applies the learning rate to the leaves only: the internal nodes get it here
        value = np.where(leaf, nodes["value"], nodes["value"] * model.learning_rate)
        return cls(nodes["feature_idx"].astype(np.int32), nodes["num_threshold"].astype(np.float64),
                   np.where(leaf, 0, nodes["left"] + shift).astype(np.int32),
                   np.where(leaf, 0, nodes["right"] + shift).astype(np.int32), value.astype(np.float64),
                   nodes["missing_go_to_left"].astype(bool), leaf, offsets[:-1].astype(np.int32),
                   float(np.ravel(model._baseline_prediction)[0]))

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """The ensemble as named arrays (for ``np.savez``); ``from_arrays`` reads them back."""
        return {prefix + name: getattr(self, name) for name in ARRAYS} | {prefix + "baseline": np.float64(self.baseline)}

    @classmethod
    def from_arrays(cls, z, prefix: str) -> TreeEnsemble:
        return cls(*(np.asarray(z[prefix + name]) for name in ARRAYS), float(z[prefix + "baseline"]))

    @property
    def expected(self) -> float:
        """The score before any split: the baseline plus every root's value."""
        return self.baseline + float(self.value[self.roots].sum())

    def _walk(self, x: np.ndarray, visit=None) -> np.ndarray:
        """(rows, trees): the leaf each row of ``x`` reaches in each tree. Every row goes down every tree at
        once, level by level; ``visit(rows, left_nodes, reached_nodes)`` sees each level's moves."""
        n, trees = len(x), len(self.roots)
        rows = np.repeat(np.arange(n), trees)
        node = np.tile(self.roots, n)
        active = np.flatnonzero(~self.is_leaf[node])  # only the (row, tree) cells still inside a tree
        while active.size:
            at = node[active]
            v = x[rows[active], self.feature[at]]
            nxt = np.where(v <= self.threshold[at], self.left[at], self.right[at])
            missing = np.isnan(v)
            if missing.any():
                nxt[missing] = np.where(self.missing_left[at[missing]], self.left[at[missing]], self.right[at[missing]])
            node[active] = nxt
            if visit is not None:
                visit(rows[active], at, nxt)
            active = active[~self.is_leaf[nxt]]
        return node.reshape(n, trees)

    def leaves(self, x: np.ndarray) -> np.ndarray:
        """(rows, trees): the leaf each row reaches in each tree."""
        return self._walk(np.asarray(x, np.float64))

    def decision(self, x: np.ndarray) -> np.ndarray:
        """(rows,) raw scores (log-odds), as the classifier's ``decision_function``."""
        return self.baseline + self.value[self.leaves(x)].sum(axis=1)

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """(rows, features): each feature's share of the score; a row's shares add up to
        ``decision(x) - expected``."""
        x = np.asarray(x, np.float64)
        out = np.zeros(x.shape)
        self._walk(x, lambda rows, at, nxt: np.add.at(out, (rows, self.feature[at]), self.value[nxt] - self.value[at]))
        return out
