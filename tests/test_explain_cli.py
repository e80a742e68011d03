"""`vitrina explain` end to end with the real models: overlays of a portrait query photo keep its
shape, and explanation.json is strict JSON (a faithfulness that cannot be measured is null)."""
import json

import pytest
from PIL import Image

import main

pytestmark = pytest.mark.weights


def test_explain_writes_overlays_and_strict_json(tmp_path, mini_dir, capsys):
    cat = str(tmp_path / "shop.vitrina")
    assert main.main(["import", cat, str(mini_dir / "products.csv"), "--category", "articleType"]) == 0
    query = tmp_path / "tall.png"
    photo = Image.new("RGB", (60, 120), "white")
    photo.paste((200, 30, 30), (10, 20, 50, 100))
    photo.save(query)
    out = tmp_path / "why"
    assert main.main(["explain", cat, "--result", "P001", "--image", str(query), "--text", "red shirt",
                    "--out", str(out), "--perturbation"]) == 0
    printed = capsys.readouterr().out
    assert "P001" in printed and "faithfulness" in printed and "nan" not in printed
    data = json.loads((out / "explanation.json").read_text(), parse_constant=lambda c: pytest.fail(c))
    assert set(data["faithfulness"]) == {"attention rollout", "gradient-weighted attention", "grad-cam cnn",
                                         "grad-cam vit", "perturbation"}
    assert Image.open(out / "result-perturbation.png").size == (48, 48)
    assert not (out / "query-perturbation.png").exists()  # the slow map covers the result's photo only
    for c in data["faithfulness"].values():
        assert (c["faithfulness"] is None) == (not c["measurable"])
    assert Image.open(out / "query-attention-rollout.png").size == (60, 120)
    assert Image.open(out / "result-grad-cam-cnn.png").size == (48, 48)
    assert main.main(["explain", cat, "--result", "NOPE", "--text", "x"]) == 2
    assert "No product with id 'NOPE'" in capsys.readouterr().err
