"""core.trees: a boosted ensemble copied into arrays scores as scikit-learn does and explains its scores."""
import numpy as np
import pytest

from core.trees import TreeEnsemble


@pytest.fixture(scope="module")
def fitted():
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 4))
    y = (x[:, 0] * x[:, 1] + x[:, 2] + 0.3 * rng.normal(size=len(x))) > 0.5  # feature 3 is noise
    x[rng.random(x.shape) < 0.02] = np.nan  # some values missing: each split sends them one way
    model = HistGradientBoostingClassifier(max_iter=60, learning_rate=0.1, random_state=0).fit(x, y)
    test = rng.normal(size=(300, 4))
    test[rng.random(test.shape) < 0.05] = np.nan
    return model, TreeEnsemble.from_sklearn(model), test


def test_scores_as_the_classifier_does_missing_values_included(fitted):
    model, trees, test = fitted
    assert len(trees.roots) == model.n_iter_
    np.testing.assert_allclose(trees.decision(test), model.decision_function(test), atol=1e-9)


def test_contributions_add_up_to_the_score_and_follow_the_signal(fitted):
    _, trees, test = fitted
    parts = trees.contributions(test)
    np.testing.assert_allclose(parts.sum(axis=1), trees.decision(test) - trees.expected, atol=1e-9)
    # feature 2 pushes the score up with its value: its share is larger for a high value than a low one
    low, high = np.zeros((1, 4)), np.zeros((1, 4))
    low[0, 2], high[0, 2] = -2.0, 2.0
    assert trees.contributions(high)[0, 2] > 0 > trees.contributions(low)[0, 2]
    assert np.abs(parts[:, 3]).mean() < np.abs(parts[:, 2]).mean() / 5  # the noise feature explains little


def test_saved_as_plain_arrays(tmp_path, fitted):
    _, trees, test = fitted
    np.savez(tmp_path / "t.npz", **trees.arrays("ranker_"))
    with np.load(tmp_path / "t.npz", allow_pickle=False) as z:
        back = TreeEnsemble.from_arrays(z, "ranker_")
    np.testing.assert_array_equal(back.decision(test), trees.decision(test))
    assert back.baseline == trees.baseline


def test_fit_learns_an_interaction_a_linear_model_cannot():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6000, 2))
    y = (x[:, 0] > 0) == (x[:, 1] > 0)  # xor of the signs: no single feature says anything
    trees = TreeEnsemble.fit(x, y, max_iter=50)
    probe = np.array([[1.0, 1.0], [-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0]])
    same, different = trees.decision(probe[:2]), trees.decision(probe[2:])
    assert same.min() > 0 > different.max()
