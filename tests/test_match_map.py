import numpy as np
import torch

from explain.match_map import match_map


def test_a_moved_patch_is_matched_to_where_it_went():
    rng = np.random.default_rng(0)
    query = torch.from_numpy(rng.normal(size=(1, 16, 4, 4)).astype(np.float32))
    result = torch.roll(query, shifts=(1, 2), dims=(2, 3))  # every cell moved by (1, 2)
    exp = match_map(query, result)
    assert exp.values.shape == (4, 4) and np.allclose(exp.values, 1.0, atol=1e-5)
    for (qr, qc), (rr, rc), s in exp.extras["pairs"]:
        assert ((qr + 1) % 4, (qc + 2) % 4) == (rr, rc) and s > 0.99
    assert len(exp.extras["pairs"]) == 8


def test_unrelated_result_scores_lower_and_inputs_stay():
    rng = np.random.default_rng(1)
    query = torch.from_numpy(rng.normal(size=(1, 16, 4, 4)).astype(np.float32))
    other = torch.from_numpy(rng.normal(size=(1, 16, 4, 4)).astype(np.float32))
    before = query.clone()
    assert match_map(query, other).values.mean() < match_map(query, query).values.mean() - 0.3
    assert torch.equal(query, before)
