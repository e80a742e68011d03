"""Goes-with: a synthetic shop where tops are bought with bottoms and shoes with bags."""
import json
import re

import numpy as np
import pytest

from core.catalog import Catalog, ProductRecord
from core.complement_eval import evaluate_complements
from core.complement_model import ComplementModel
from core.complement_splits import ALL_SPLITS, EVALUATION_SPLITS
from core.complement_training import train_complement_models, train_complements
from core.complements import badge, recommend, why
from core.errors import AppError

KINDS = ("top", "bottom", "shoes", "bag")
PARTNER = {"top": "bottom", "bottom": "top", "shoes": "bag", "bag": "shoes"}


def shop(tmp_path, n=240, seed=0):
    rng = np.random.default_rng(seed)
    cat = Catalog.create(tmp_path / "shop.vitrina")
    kinds = {}
    with cat.transaction():
        cat.set_fields({"kind": "category"})
        for i in range(n):
            kind = KINDS[i % 4]
            pk = cat.upsert_product(ProductRecord(f"p{i}", f"{kind} {i}", "", None, None, None, {"kind": kind}, "h"))
            kinds[pk] = kind
        pks = sorted(kinds)
        for space in ("vit", "text"):
            vecs = np.stack([np.eye(8)[KINDS.index(kinds[p])] + rng.normal(0, 0.3, 8) for p in pks])
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            cat.put_embeddings(space, "toy", pks, ["h"] * len(pks), vecs)
        by_kind = {k: [p for p in pks if kinds[p] == k] for k in KINDS}
        pairs = []
        for p in pks:
            for q in rng.choice(by_kind[PARTNER[kinds[p]]], 3, replace=False):
                pairs.append((p, int(q), 1.0))
        cat.add_copurchases(pairs)
    return cat, kinds


def test_learned_complements_beat_similarity_and_say_why(tmp_path):
    cat, kinds = shop(tmp_path)
    model = train_complements(cat, rank=8, epochs=40, learn_from=EVALUATION_SPLITS)
    result = evaluate_complements(cat, model)
    assert result["queries"] > 10 and model.info["ranker_fit_on"] == "validation"
    assert {"plain similarity (vit)", "plain similarity (text)", "plain similarity (fused)", "popularity"} <= set(result)
    assert result["complement model"]["R@10"] >= 2 * result["best plain similarity R@k"]
    low, high = result["complement model R@k, 95 % interval"]
    assert low < result["complement model"]["R@10"] < high
    # plain similarity finds a pair for one test query or so: resampled, the ratio would often divide by 0
    assert "ratio to best plain similarity, 95 % interval" not in result
    assert re.match(r"none for the ratio: the best plain similarity finds a held-out pair for \d of the \d+ test "
                    r"queries, at least 10 are needed", result["95 % intervals"])
    assert model.info["weights"]["category pairing (kind)"] > 0  # the ranker learned that tops go with bottoms
    pk = sorted(kinds)[0]  # a top with known pairs: those come first
    recs = recommend(cat, model, pk, k=10)
    known = {b for b, _ in cat.copurchased(pk)}
    assert {r.pk for r in recs[:len(known)]} == known and recs[0].evidence == {"bought together": 1.0}
    learned = recs[len(known):]
    assert learned and all(kinds[r.pk] == "bottom" for r in learned[:5])
    # each reason holds for its pair: a bottom for a top was said to be of the "same kind" (a 0 flag, weighed
    # against, weighs for)
    assert all(r.evidence and set(r.evidence) <= {*model.features, "not the same kind"} for r in learned)
    assert all("same kind" not in r.evidence for r in learned) and "not the same kind" in learned[0].evidence
    assert "category pairing (kind)" in learned[0].evidence
    # one scale a merchandiser can read: a known pair says so, a pick the model's chance (0..1, best first)
    assert all(r.known and badge(r) == "bought" and why(r) == "bought together (co-purchase weight 1)"
               for r in recs[:len(known)])
    chances = [r.score for r in learned]
    assert all(0 < c < 1 for c in chances) and chances == sorted(chances, reverse=True)
    assert not learned[0].known and badge(learned[0]) == f"{round(chances[0] * 100)} %"
    assert why(learned[0]).startswith(f"predicted: {badge(learned[0])} chance to be bought together; evidence: ")
    assert "category pairing (kind) +" in why(learned[0])
    path = tmp_path / "m.npz"
    model.save(path)
    again = ComplementModel.load(path)
    assert np.array_equal(again.w_query, model.w_query) and again.compat == model.compat
    assert again.degree == model.degree and again.features == model.features
    assert again.group_fields == model.group_fields and np.array_equal(again.pairs, model.pairs)
    assert np.array_equal(again.item_pks, model.item_pks) and np.array_equal(again.item_vectors, model.item_vectors)
    assert again.attribute_values == model.attribute_values == {"kind": sorted(KINDS)}
    assert again.skus == model.skus and again.skus[pk] == "p0"
    assert [r.pk for r in recommend(cat, again, pk, k=10)] == [r.pk for r in recs]
    path.write_bytes(b"not a model")
    with pytest.raises(AppError, match="train it again"):
        ComplementModel.load(path)


def test_bestseller_among_buyers_of_a_section_is_recommended_to_a_new_product(tmp_path):
    """Tops of the "sport" section are always bought with one pair of leggings; a new sport top (no pairs
    of its own) gets those leggings first, and the evidence says the section's buyers chose them."""
    cat, kinds = shop(tmp_path)
    pks = sorted(kinds)
    section = {p: ("sport" if i % 8 == 0 else "city") for i, p in enumerate(pks)}  # every other top
    leggings = [p for p in pks if kinds[p] == "bottom"][7]
    with cat.transaction():
        for p in pks:
            cat.execute("INSERT OR REPLACE INTO attributes VALUES (?, 'section', ?)", (p, section[p]))
            cat.execute("INSERT OR REPLACE INTO attributes VALUES (?, 'image_quality', 'ok')", (p,))
        cat.add_copurchases([(p, leggings, 1.0) for p in pks if section[p] == "sport"])
    model = train_complements(cat, rank=8, epochs=40)
    assert "section" in model.group_fields and "image_quality" not in model.group_fields
    assert "often bought with this section" in model.features
    assert set(model.item_pks) == {int(p) for p in model.pairs.ravel()}  # only products bought with another
    def new_top(sku, where):  # a new product that looks like the first top
        with cat.transaction():
            pk = cat.upsert_product(ProductRecord(sku, f"top {sku}", "", None, None, None,
                                                  {"kind": "top", "section": where}, "h"))
            for space in ("vit", "text"):
                have, vecs = cat.embeddings(space)
                cat.put_embeddings(space, "toy", [pk], ["h"], vecs[list(have).index(pks[0])][None])
        return pk

    assert model.info["weights"]["often bought with this section"] > 0
    sport = recommend(cat, model, new_top("new-sport", "sport"), k=5, reasons=5)
    assert sport[0].pk == leggings and sport[0].evidence["often bought with this section"] > 0
    city = {r.pk: r for r in recommend(cat, model, new_top("new-city", "city"), k=20, reasons=5)}
    assert leggings in city and city[leggings].score < sport[0].score  # the same look, another section's buyers
    assert "often bought with this section" not in city[leggings].evidence


def test_a_model_learned_on_other_vectors_is_refused(tmp_path):
    cat, kinds = shop(tmp_path)
    model = train_complements(cat, rank=8, epochs=5)
    assert model.info["encoders"] == {"vit": "toy", "text": "toy"}
    pk = sorted(kinds)[0]
    assert recommend(cat, model, pk, k=10)
    pks, vecs = cat.embeddings("vit")
    with cat.transaction():  # the ViT was retrained or adapted: every vector re-embedded
        cat.put_embeddings("vit", "toy-2", pks, ["h"] * len(pks), vecs)
    with pytest.raises(AppError, match=r"vit \(toy -> toy-2\).*--train"):
        recommend(cat, model, pk, k=10)
    with pytest.raises(AppError, match="other vectors"):
        evaluate_complements(cat, model)
    known = {b for b, _ in cat.copurchased(pk)}
    assert {r.pk for r in recommend(cat, None, pk, k=10)} == known  # the pairs themselves still stand


def test_a_pair_stored_both_ways_is_one_partner_and_one_training_pair(tmp_path):
    from core.complement_splits import train_pairs

    cat, kinds = shop(tmp_path)
    pk = sorted(kinds)[0]
    partner = cat.copurchased(pk)[0][0]
    with cat.transaction():  # a source that weighs each direction on its own (H&M does)
        cat.add_copurchases([(pk, partner, 0.2), (partner, pk, 3.0)])
    partners = [b for b, _ in cat.copurchased(pk)]
    assert partners.count(partner) == 1 and dict(cat.copurchased(pk))[partner] == 3.0
    model = train_complements(cat, rank=8, epochs=5)
    recs = [r.pk for r in recommend(cat, model, pk, k=30)]
    assert len(recs) == len(set(recs)) == 30 and recs[0] == partner
    row = {p: i for i, p in enumerate(sorted(kinds))}
    pairs = train_pairs(cat.copurchase_pairs(), row, {p: "train" for p in kinds})
    assert len(pairs) == len({frozenset(p) for p in pairs}) == len({frozenset(r) for r in
                                                                     [(a, b) for a, b, _ in cat.copurchase_pairs()]})


def test_goes_with_keeps_its_evidence_until_the_model_or_the_catalog_changes(tmp_path, monkeypatch):
    from core import complements
    from core.complements import GoesWith, model_path

    cat, kinds = shop(tmp_path)
    built = []
    real = complements.Evidence
    monkeypatch.setattr(complements, "Evidence", lambda *a: built.append(1) or real(*a))
    service = GoesWith(cat)
    pk = sorted(kinds)[0]
    known = {b for b, _ in cat.copurchased(pk)}
    assert {r.pk for r in service.recommend(pk, k=10)} == known and not built  # no model yet: the pairs
    model = train_complements(cat, rank=8, epochs=5)
    built.clear()
    model.save(model_path(cat))
    first = [r.pk for r in service.recommend(pk, k=10)]
    assert len(first) == 10 and [r.pk for r in service.recommend(pk, k=10)] == first and len(built) == 1
    cat.set_meta("insights:vit", "{}")  # a note the app caches in the catalog changes nothing goes-with reads
    assert [r.pk for r in service.recommend(pk, k=10)] == first and len(built) == 1
    new = sorted(kinds)[-1]  # a product gains a partner: the evidence is read again and shows it
    with cat.transaction():
        cat.add_copurchases([(pk, new, 9.0)])
    assert service.recommend(pk, k=10)[0].pk == new and len(built) == 2
    model_path(cat).write_bytes(b"not a model")  # a broken model file is not served from the cache
    with pytest.raises(AppError, match="train it again"):
        service.recommend(pk, k=10)


def test_needs_pairs_and_vectors_and_says_which(tmp_path, capsys):
    from core import cli

    cat = Catalog.create(tmp_path / "empty.vitrina")
    with pytest.raises(AppError, match="vit 0, text 0"):
        train_complements(cat)
    with cat.transaction():
        pk = cat.upsert_product(ProductRecord("t1", "red dress", "", None, None, None, {}, "h"))
        cat.put_embeddings("text", "toy", [pk], ["h"], np.ones((1, 8)) / 8 ** 0.5)
    with pytest.raises(AppError, match="vit 0, text 1.*need product photos"):
        train_complements(cat)
    cat.close()
    assert cli.run(["goes-with", str(tmp_path / "empty.vitrina"), "--product", "t1"]) == 0
    assert "Nothing known to go with t1" in capsys.readouterr().out
    assert cli.run(["eval", str(tmp_path / "empty.vitrina"), "--label", "colour"]) == 2
    assert capsys.readouterr().err.strip().endswith("Known: copurchase.")


def test_cli_train_eval_and_ask(tmp_path, capsys):
    from core import cli

    from core.complements import model_path

    cat, kinds = shop(tmp_path)
    path = str(cat.path)
    saved = model_path(cat)
    cat.close()
    assert cli.run(["goes-with", path, "--eval", "--json", str(tmp_path / "e.json")]) == 0
    assert "a model learned without the test products' pairs" in capsys.readouterr().out
    assert not saved.exists()  # the evaluation's model is its own: the application's is not replaced
    assert json.loads((tmp_path / "e.json").read_text())["queries"] > 10
    assert cli.run(["goes-with", path, "--train", "--eval", "--product", "p0", "--json", str(tmp_path / "g.json")]) == 0
    out = capsys.readouterr().out
    assert "complement model trained" in out and "(every pair of the catalog)" in out and saved.exists()
    assert "  bought  p" in out and "(bought together (co-purchase weight 1))" in out
    assert cli.run(["clusters", path, "--space", "vit", "-k", "4"]) == 0
    assert "4 clusters" in capsys.readouterr().out


def test_content_has_one_column_per_known_attribute_value(tmp_path):
    from core.complement_evidence import ATTRIBUTE_WEIGHT, content_vectors

    cat, kinds = shop(tmp_path, n=16)
    pks, plain = content_vectors(cat)
    assert np.allclose(np.linalg.norm(plain, axis=1), 1.0, atol=1e-5)
    with cat.transaction():  # a value the model's vocabulary does not have, and a product without the attribute
        cat.execute("UPDATE attributes SET value='hat' WHERE pk=? AND key='kind'", (int(pks[0]),))
        cat.execute("DELETE FROM attributes WHERE pk=? AND key='kind'", (int(pks[1]),))
    same, x = content_vectors(cat, attributes={"kind": ["bottom", "top"]})
    assert np.array_equal(same, pks) and np.array_equal(x[:, :16], plain)
    onehot = x[:, 16:]
    assert onehot.shape == (16, 2) and not onehot[:2].any()
    for r, pk in enumerate(pks[2:], start=2):
        expected = [kinds[int(pk)] == "bottom", kinds[int(pk)] == "top"]
        assert np.array_equal(onehot[r], np.array(expected, np.float32) * ATTRIBUTE_WEIGHT)


def test_propagation_moves_a_bought_product_towards_its_partners():
    from core.complement_training import _propagate

    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 4)).astype(np.float32)
    w = np.eye(4, dtype=np.float32)
    items = np.zeros((5, 4), np.float32)
    pairs = np.array([(0, 1), (1, 0), (0, 2), (2, 0), (0, 2)])  # 0 with 1 and 2 (one pair listed twice); 3, 4 alone
    out = _propagate(x, w, items, pairs, alpha=1.0)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    assert not out[3:].any()  # no pairs: content alone, as for a new product
    deg = np.array([2, 1, 1])
    expected0 = unit[0] + (unit[1] / np.sqrt(2 * 1) + unit[2] / np.sqrt(2 * 1))
    assert np.allclose(x[0] + out[0], expected0, atol=1e-5)
    assert np.allclose(x[1] + out[1], unit[1] + unit[0] / np.sqrt(deg[1] * deg[0]), atol=1e-5)
    def cos(a, b):
        return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
    assert cos(x[0] + out[0], x[1]) > cos(x[0], x[1]) and cos(x[0] + out[0], x[2]) > cos(x[0], x[2])


def test_the_group_reference_ranks_group_mates_then_their_partners(tmp_path):
    """The yardstick: a product's own group (the same design in another colour) and what it was bought with."""
    from core.complement_eval import _group_reference

    cat = Catalog.create(tmp_path / "g.vitrina")
    with cat.transaction():
        pk = {s: cat.upsert_product(ProductRecord(s, s, "", None, None, None, {"design": d}, "h"))
              for s, d in [("a", "D1"), ("a2", "D1"), ("x", "D2"), ("y", "D3"), ("z", "D4"), ("lone", "D5")]}
        cat.add_copurchases([(pk["a2"], pk["x"], 0.5), (pk["y"], pk["a2"], 0.2), (pk["a"], pk["z"], 1.0)])
    rel = {pk["a"]: {pk["x"], pk["z"]}, pk["lone"]: {pk["x"]}}
    out = _group_reference(cat, "design", [pk["a"], pk["lone"]], rel, [(0.25, 0.5), (1.0, 1.0)], k=2)
    # a's ranking: a2 (its group-mate), then x (0.5) before y (0.2); z is a's own partner, unknown to a2
    assert out["queries"] == 1  # "lone" has no group-mate: left out, and so is its model result
    assert out["R@2"] == 0.5 and out["complement model"] == {"R@2": 0.25, "NDCG@2": 0.5}
    assert out["NDCG@2"] == pytest.approx((1 / np.log2(3)) / (1 + 1 / np.log2(3)))
    assert _group_reference(cat, "design", [pk["lone"]], rel, [(1.0, 1.0)], k=2) == {"queries": 0}


def test_an_attribute_value_no_training_pair_shows_gets_no_content_column(tmp_path):
    cat, kinds = shop(tmp_path)
    with cat.transaction():  # a new kind of product, never bought with anything yet
        hat = cat.upsert_product(ProductRecord("hat", "hat", "", None, None, None, {"kind": "hat"}, "h"))
        for space in ("vit", "text"):
            cat.put_embeddings(space, "toy", [hat], ["h"], np.eye(8)[[5]])
    model = train_complements(cat, rank=8, epochs=5)
    assert model.attribute_values == {"kind": sorted(KINDS)} and model.w_query.shape[0] == 16 + len(KINDS)
    recs = recommend(cat, model, hat, k=5)
    assert len(recs) == 5 and hat not in {r.pk for r in recs}


def test_the_application_model_learns_every_pair_and_an_evaluation_refuses_it(tmp_path):
    """The ranker is fitted on validation products' pairs that stage 1 did not see; then the model learns
    again from every pair (the application's) or from all but the test products' (an evaluation's)."""
    from core.complement_splits import product_split

    cat, kinds = shop(tmp_path)
    split = product_split(cat, None)
    held_out = train_complements(cat, rank=8, epochs=5, learn_from=EVALUATION_SPLITS)
    full = train_complements(cat, rank=8, epochs=5)
    assert full.info["learned_from"] == ["train", "val", "test"] and held_out.info["learned_from"] == ["train", "val"]
    in_pairs = {which: {split[int(p)] for p in m.pairs.ravel()} for which, m in (("held", held_out), ("full", full))}
    assert in_pairs == {"held": {"train", "val"}, "full": {"train", "val", "test"}}
    assert full.info["pairs"] == len({frozenset((a, b)) for a, b, _ in cat.copurchase_pairs()})
    assert {split[int(p)] for p in full.item_pks} == {"train", "val", "test"}  # every bought product has a vector
    assert np.array_equal(full.coef, held_out.coef)  # the same ranker (fitted before the second learning)
    # both at once (goes-with --train --eval): what comes before the second learning is done once
    seen = []
    both = train_complement_models(cat, rank=8, epochs=5, learn_from=(ALL_SPLITS, EVALUATION_SPLITS),
                                   on_progress=seen.append)
    assert {p.total for p in seen} == {5 * 3 + 1}  # first, ranker, then two second learnings (not 2 x (5 * 2 + 1))
    for alone, joint in zip((full, held_out), both):
        assert joint.info == alone.info and np.array_equal(joint.pairs, alone.pairs)
        assert np.array_equal(joint.w_query, alone.w_query) and np.array_equal(joint.item_vectors, alone.item_vectors)
        assert np.array_equal(joint.coef, alone.coef) and joint.bias == alone.bias
    evaluate_complements(cat, held_out)
    with pytest.raises(AppError, match="learned from pairs of the products it would be tested on"):
        evaluate_complements(cat, full)
    with pytest.raises(AppError, match="tested on"):  # another split: its test products were learned from
        evaluate_complements(cat, held_out, seed=1)


def test_learning_reports_each_epoch_and_stops_when_cancelled(tmp_path):
    from core.errors import Cancelled

    cat, kinds = shop(tmp_path)
    seen = []
    train_complements(cat, rank=8, epochs=3, on_progress=seen.append)
    assert [p.done for p in seen] == list(range(8)) and {p.total for p in seen} == {7}  # 3 epochs, ranker, 3 again
    assert seen[1].message.endswith("pairs of training products (epoch 1 of 3)") and "ranker" in seen[4].message
    assert seen[-1].message.endswith("all that are learned from (epoch 3 of 3)")
    seen.clear()
    with pytest.raises(Cancelled, match="cancelled"):
        train_complements(cat, rank=8, epochs=3, on_progress=seen.append, cancelled=lambda: len(seen) >= 2)
    assert [p.done for p in seen] == [0, 1]  # stopped after the first epoch


def test_cancel_does_not_wait_for_the_ranker_rows(tmp_path, monkeypatch):
    """Between the first stage's last epoch and the ranker's step lie the rows of every held-out query
    (half a minute a fold on H&M): a Cancel there stops them too."""
    from core.complement_evidence import Evidence
    from core.errors import Cancelled

    cat, kinds = shop(tmp_path)
    seen, rows = [], []
    features = Evidence.features
    monkeypatch.setattr(Evidence, "features", lambda self, i, cand=None: rows.append(i) or
                        features(self, i, cand))
    with pytest.raises(Cancelled, match="cancelled"):
        train_complements(cat, rank=8, epochs=3, on_progress=seen.append, cancelled=lambda: len(seen) >= 4)
    assert seen[-1].message.endswith("(epoch 3 of 3)") and rows == []  # no query's rows after the Cancel


def test_badges_and_reasons_of_single_recommendations():
    from core.complements import Complement

    assert badge(Complement(1, 0.001, {"often bought": 0.1})) == "<1 %"
    assert badge(Complement(1, 0.99999, {})) == ">99 %" and badge(Complement(1, 0.994, {})) == "99 %"
    assert badge(Complement(1, 0.234, {})) == "23 %" and why(Complement(1, 0.234, {})) == \
        "predicted: 23 % chance to be bought together"
    assert why(Complement(1, 0.5, {"shared title words": 0.456})) == \
        "predicted: 50 % chance to be bought together; evidence: shared title words +0.46"
    from core.complements import evidence_label

    assert [evidence_label(f, 0.0) for f in ("same colour", "shared title words", "often bought",
                                             "often bought with this section", "similar (vit)")] == [
        "not the same colour", "no shared title words", "never bought", "never bought with this section",
        "similar (vit)"]
    assert [evidence_label(f, 1.0) for f in ("same colour", "often bought")] == ["same colour", "often bought"]
    pair = Complement(1, 17.0, {"bought together": 17.0})  # a catalog whose weights are counts
    assert pair.known and badge(pair) == "bought" and why(pair) == "bought together (co-purchase weight 17)"


def test_too_few_pairs_says_how_many_and_where(tmp_path):
    cat = Catalog.create(tmp_path / "few.vitrina")
    rng = np.random.default_rng(0)
    with cat.transaction():
        pks = [cat.upsert_product(ProductRecord(f"p{i}", f"p {i}", "", None, None, None, {}, "h")) for i in range(30)]
        for space in ("vit", "text"):
            cat.put_embeddings(space, "toy", pks, ["h"] * 30, rng.normal(size=(30, 8)))
        cat.add_copurchases([(pks[i], pks[i + 1], 1.0) for i in range(29)])
    with pytest.raises(AppError, match=r"at least 50 co-purchase pairs .* has \d+ there, and 29 pairs .* Import more"):
        train_complements(cat)


def test_popularity_counts_how_often_a_product_is_listed_as_a_partner(tmp_path):
    """A source lists each product's strongest partners (H&M: up to six each): being listed by many is what
    makes a product popular among buyers; listing many says nothing."""
    from collections import Counter

    from core.complement_splits import train_pairs

    cat, kinds = shop(tmp_path)
    pks = sorted(kinds)
    star, fan = pks[1], pks[0]
    with cat.transaction():
        cat.add_copurchases([(p, star, 0.5) for p in pks[4:40:4]] + [(star, fan, 0.5), (fan, star, 0.7)])
    rows = cat.copurchase_pairs()
    model = train_complements(cat, rank=8, epochs=3)
    assert model.degree == Counter(b for _, b, _ in rows)  # every pair learned, counted on the partner's side
    assert model.degree[star] == sum(1 for _, b, _ in rows if b == star) >= 10
    row = {p: i for i, p in enumerate(pks)}
    everywhere = {p: "train" for p in pks}
    listed = train_pairs(rows, row, everywhere, directed=True)
    assert (row[star], row[fan]) in listed and (row[fan], row[star]) in listed  # stored both ways: both kept
    assert len(listed) == len(rows) and len(train_pairs(rows, row, everywhere)) < len(rows)


def test_with_enough_pairs_the_ranker_is_cross_fitted_trees(tmp_path):
    """Above ``tree_min_pairs``, every fold of training products is scored by a stage 1 that did not see its
    pairs; those rows join the validation products' and the ranker is boosted trees, which rank, explain
    (the shares of the evidence) and are saved as plain arrays."""
    cat, kinds = shop(tmp_path)
    linear = train_complements(cat, rank=8, epochs=20, learn_from=EVALUATION_SPLITS)
    seen = []
    model = train_complements(cat, rank=8, epochs=20, learn_from=EVALUATION_SPLITS, folds=2, tree_min_pairs=100,
                              on_progress=seen.append)
    assert linear.trees is None and linear.info["ranker"] == "logistic regression"
    assert model.trees is not None and model.info["ranker"] == "boosted trees" and "weights" not in model.info
    assert model.info["ranker_fit_on"] == "validation and cross-fitted training (2 folds)"
    # rows of every training product too (the trees see each bought candidate, and a quarter of the others)
    assert model.info["ranker_positives"] > 3 * linear.info["ranker_positives"]
    assert {p.total for p in seen} == {20 * 4 + 1} and seen[-1].done == 20 * 4 + 1  # 4 fits: first, 2 folds, again
    assert any("outside fold 2 of 2" in p.message for p in seen)
    assert max(model.info["importance"], key=model.info["importance"].get) == "category pairing (kind)"
    result = evaluate_complements(cat, model)
    assert result["complement model"]["R@10"] >= 2 * result["best plain similarity R@k"]
    top = sorted(kinds)[0]
    learned = [r for r in recommend(cat, model, top, k=10) if not r.known]
    assert learned and all(kinds[r.pk] == "bottom" for r in learned[:5])
    chances = [r.score for r in learned]
    assert all(0 < c < 1 for c in chances) and chances == sorted(chances, reverse=True)
    assert "category pairing (kind)" in learned[0].evidence
    path = tmp_path / "trees.npz"
    model.save(path)
    again = ComplementModel.load(path)
    assert again.trees is not None and again.bias == model.bias
    assert [(r.pk, r.score, r.evidence) for r in recommend(cat, again, top, k=10)] == \
           [(r.pk, r.score, r.evidence) for r in recommend(cat, model, top, k=10)]


def test_the_column_a_designs_variants_share_is_found(tmp_path):
    from core.complement_splits import design_column, variant_columns

    cat, kinds = shop(tmp_path, n=40)
    pks = sorted(kinds)
    assert design_column(cat) is None  # "kind" is a category field; nothing else to find

    def column(key, value_of, pks=pks):
        with cat.transaction():
            cat.execute("DELETE FROM attributes WHERE key=?", (key,))
            for i, pk in enumerate(pks):
                cat.execute("INSERT INTO attributes (pk, key, value) VALUES (?,?,?)", (pk, key, value_of(i)))

    column("brand", lambda i: f"b{i % 4}")  # ten products a value: a brand, not a design
    column("sku_copy", lambda i: f"s{i}")  # every value alone: no variants
    assert design_column(cat) is None
    column("model_no", lambda i: f"m{i // 2}")  # pairs of variants
    assert design_column(cat) == "model_no"
    column("article_set", lambda i: f"a{i // 3}")  # more products a value, and no design-like name
    assert design_column(cat) == "model_no"
    column("model_no", lambda i: f"m{i // 2}", pks[:30])  # a quarter of the products lack it
    assert design_column(cat) == "article_set"
    assert variant_columns(cat) == ["article_set", "model_no"]  # those a user may choose instead
    column("article_set", lambda i: f"a{i // 2}" if i < 8 else f"u{i}")  # 4 shared values, no design name: too few to
    assert design_column(cat) is None  # tell a design from a colour (a 3-product catalog's baseColour was one)
    column("model_no", lambda i: f"m{i // 2}" if i < 8 else f"u{i}")  # named so: its values are designs
    assert design_column(cat) == "model_no"
    cat.close()


def test_cli_keeps_a_designs_variants_together_unless_told_not_to(tmp_path, capsys):
    from core import cli

    cat, kinds = shop(tmp_path)
    with cat.transaction():
        for pk in kinds:
            cat.execute("INSERT INTO attributes (pk, key, value) VALUES (?,?,?)", (pk, "product_code", f"c{pk // 2}"))
    path = str(cat.path)
    cat.close()
    assert cli.run(["goes-with", path, "--eval", "--json", str(tmp_path / "auto.json")]) == 0
    assert "variants that share product_code are kept in one split" in capsys.readouterr().out
    auto = json.loads((tmp_path / "auto.json").read_text())
    assert cli.run(["goes-with", path, "--eval", "--group-by", "none", "--json", str(tmp_path / "none.json")]) == 0
    assert "each product is split on its own" in capsys.readouterr().out
    alone = json.loads((tmp_path / "none.json").read_text())
    # only a split by design can say what the same design's other variants were bought with
    assert "reference: co-purchases of the same group" in auto and "reference: co-purchases of the same group" \
        not in alone
    assert cli.run(["goes-with", path, "--eval", "--group-by", "style"]) == 2
    err = capsys.readouterr().err
    assert "has no column 'style'" in err and "product_code" in err


def test_a_new_product_given_a_removed_ones_pk_inherits_none_of_its_purchases(tmp_path):
    from core.complements import GoesWith, model_path

    cat, kinds = shop(tmp_path)
    model = train_complements(cat, rank=8, epochs=5)
    model.save(model_path(cat))
    loaded = ComplementModel.load(model_path(cat))
    assert loaded.named(cat) is loaded  # nothing changed in the catalog: the model as it is
    gone = max(kinds)  # the last product added: SQLite gave its pk to the next product added (the catalog no more)
    assert model.degree.get(gone, 0) > 0 and gone in set(model.item_pks.tolist())
    with cat.transaction():
        cat.delete_products([gone])
        new = cat.upsert_product(ProductRecord("brand-new", "bag 999", "", None, None, None, {"kind": "bag"}, "h"))
        cat.put_embeddings("vit", "toy", [new], ["h"], np.eye(8)[:1])
        cat.put_embeddings("text", "toy", [new], ["h"], np.eye(8)[:1])
    assert new == gone + 1  # not reused
    named = ComplementModel.load(model_path(cat)).named(cat)
    assert new not in named.degree and new not in set(named.item_pks.tolist())  # nobody bought the new one
    assert len(named.item_pks) == len(model.item_pks) - 1 == len(named.item_vectors)
    kept = model.pairs[(model.pairs != gone).all(axis=1)]  # its pairs, either way, are gone with it
    assert np.array_equal(named.pairs, kept) and len(kept) < len(model.pairs)
    service = GoesWith(cat)  # what the window asks: the model as named in the catalog now
    service.recommend(min(kinds), k=5)
    assert new not in service.model.degree


def test_goes_with_cli_says_what_it_cannot_do(tmp_path, capsys):
    from core import cli
    from core.complements import model_path

    cat, _ = shop(tmp_path)
    path = str(cat.path)
    assert cli.run(["goes-with", path]) == 2
    assert "Say what to do: --train" in capsys.readouterr().err
    assert cli.run(["goes-with", path, "--product", ""]) == 2
    assert "No product with id ''" in capsys.readouterr().err
    assert cli.run(["goes-with", path, "--eval", "--json", str(tmp_path / "no" / "e.json")]) == 2
    assert "the folder" in capsys.readouterr().err  # said before a model is learned, not after
    train_complements(cat, rank=8, epochs=5).save(model_path(cat))
    pk = cat.pk_for_sku("p0")  # a product whose vectors are gone (no photo): its known pairs, and why no more
    with cat.transaction():
        cat.delete_embeddings("vit", [pk])
    known = {cat.product(b).sku for b, _ in cat.copurchased(pk)}
    assert known
    cat.close()
    assert cli.run(["goes-with", path, "--product", "p0"]) == 0
    out = capsys.readouterr().out
    assert "Known co-purchases only. This product has no photo" in out
    assert {line.split()[1] for line in out.splitlines() if line.strip().startswith("bought")} == known


def test_an_evaluation_without_test_queries_says_so(tmp_path, monkeypatch):
    cat, _ = shop(tmp_path)
    model = train_complements(cat, rank=8, epochs=5, learn_from=EVALUATION_SPLITS)
    with cat.transaction():
        cat.execute("DELETE FROM copurchase")
    with pytest.raises(AppError, match="No test product of shop has co-purchase pairs to hide and find again"):
        evaluate_complements(cat, model)
    cat.close()
    from core import cli

    learned = []
    monkeypatch.setattr("core.complement_training.train_complement_models", lambda *a, **k: learned.append(1))
    assert cli.run(["goes-with", str(tmp_path / "shop.vitrina"), "--eval"]) == 2 and not learned  # said first


def test_the_import_s_image_quality_is_no_design_column(tmp_path):
    from core.complement_splits import variant_columns

    cat, kinds = shop(tmp_path)
    with cat.transaction():
        for pk in sorted(kinds)[::2]:
            cat.execute("INSERT INTO attributes VALUES (?, 'image_quality', 'tiny')", (pk,))
            cat.execute("INSERT INTO attributes VALUES (?, 'style', ?)", (pk, f"s{pk // 4}"))
    assert variant_columns(cat) == ["style"]


def test_too_few_usable_pairs_because_of_missing_photos_says_so(tmp_path):
    cat, kinds = shop(tmp_path)
    with cat.transaction():
        cat.delete_embeddings("vit", [pk for i, pk in enumerate(sorted(kinds)) if i % 8])  # 7 in 8 lack photos
    with pytest.raises(AppError, match=r"Only \d+ of its 720 stored pairs are between products with vectors in all "
                                       r"of vit, text: the others involve products without a photo"):
        train_complements(cat, rank=8, epochs=5)


def _tiny_model() -> ComplementModel:
    names = ("similar (vit)", "often bought")
    return ComplementModel(np.ones((8, 2), np.float32), np.ones((8, 2), np.float32), ("vit",), ("vit",), ("kind",),
                           {"kind": {"top": {"bottom": -0.5}}}, np.array([[1, 2], [2, 1]], np.int64), names,
                           np.zeros(2), np.ones(2), np.array([0.5, 1.0]), -1.0, {"pairs": 2}, ("kind",),
                           np.array([1, 2], np.int64), np.ones((2, 2), np.float32), {"kind": ["bottom", "top"]},
                           skus={1: "p1", 2: "p2"})


def test_a_truncated_emptied_or_damaged_model_file_says_train_it_again(tmp_path):
    good = tmp_path / "good.npz"
    _tiny_model().save(good)
    data = good.read_bytes()
    assert ComplementModel.load(good).skus == {1: "p1", 2: "p2"}
    damaged = [data[:n] for n in (0, 1, 30, len(data) // 2, len(data) - 22, len(data) - 1)]
    damaged += [data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:] for i in range(len(data))]  # each byte flipped
    path = tmp_path / "complements.npz"
    refused = 0
    for content in damaged:
        path.write_bytes(content)
        try:
            ComplementModel.load(path)  # a flip in what no reader checks (a date) leaves a model
        except AppError as exc:
            assert "is not a complement model of this version" in str(exc) and "train it again" in str(exc)
            refused += 1
    assert refused > len(damaged) / 2


def test_goes_with_json_writes_the_recommendations_and_what_was_learned(tmp_path, capsys):
    from core import cli

    cat, kinds = shop(tmp_path, n=120)
    path = str(cat.path)
    top = min(kinds)
    known = {cat.product(b).sku for b, _ in cat.copurchased(top)}
    cat.close()
    both = tmp_path / "both.json"
    assert cli.run(["goes-with", path, "--train", "--product", "p0", "--json", str(both)]) == 0
    written = json.loads(both.read_text())
    saved = ComplementModel.load(written["trained"]["path"])
    assert {k: written["trained"][k] for k in saved.info} == json.loads(json.dumps(saved.info))
    assert written["trained"]["ranker"] == "logistic regression" and written["trained"]["fields"] == ["kind"]
    capsys.readouterr()
    asked = tmp_path / "asked.json"
    assert cli.run(["goes-with", path, "--product", "p0", "--json", str(asked)]) == 0  # the saved model
    out = capsys.readouterr().out
    recs = json.loads(asked.read_text())
    assert set(recs) == {"product", "recommendations"} and recs["product"] == "p0"
    rows = recs["recommendations"]
    assert len(rows) == 10 and [line.split()[1 if line.split()[0] == "bought" else 2] for line in out.splitlines()] \
        == [r["product"] for r in rows]  # what it printed
    assert {r["product"] for r in rows if r["kind"] == "bought"} == known and rows[0]["kind"] == "bought"
    assert rows[0]["evidence"] == {"bought together": 1.0} and rows[0]["badge"] == "bought"
    learned = [r for r in rows if r["kind"] == "learned"]
    assert learned and all(0 < r["score"] < 1 and r["evidence"] and r["title"] for r in learned)
    assert written["recommendations"] == rows  # the same picks, learned and asked at once
    with pytest.raises(SystemExit):
        cli.run(["goes-with", "--help"])
    assert "--json FILE" in capsys.readouterr().out


def test_when_every_candidate_was_bought_training_says_there_is_nothing_to_learn(tmp_path):
    """16 products, each bought with every other: the ranker has no product that was not chosen."""
    from itertools import combinations

    cat = Catalog.create(tmp_path / "all.vitrina")
    rng = np.random.default_rng(0)
    with cat.transaction():
        pks = [cat.upsert_product(ProductRecord(f"p{i}", f"p {i}", "", None, None, None, {}, "h")) for i in range(16)]
        for space in ("vit", "text"):
            cat.put_embeddings(space, "toy", pks, ["h"] * 16, rng.normal(size=(16, 8)))
        cat.add_copurchases([(a, b, 1.0) for a, b in combinations(pks, 2)])
    with pytest.raises(AppError, match="Nothing to learn .* every product the model could suggest is already a "
                                       "known co-purchase"):
        train_complements(cat, rank=8, epochs=2)


def test_a_small_sample_gives_no_interval_and_says_why():
    from core.complement_eval import _intervals

    few = _intervals([(1.0, 1.0), (0.0, 0.0)], [(0.0, 0.0), (1.0, 1.0)], 0)  # the ratio could be 1 / 0
    assert few == {"95 % intervals": "not given: 2 test queries, at least 30 are needed"}
    rng = np.random.default_rng(0)
    model = [(float(r), 0.0) for r in rng.random(40)]
    rare = [(1.0, 0.0)] * 3 + [(0.0, 0.0)] * 37  # plain similarity finds a pair for 3 queries in 40
    got = _intervals(model, rare, 0)
    low, high = got["complement model R@k, 95 % interval"]
    assert 0 < low < high < 1 and "ratio to best plain similarity, 95 % interval" not in got
    assert got["95 % intervals"] == ("none for the ratio: the best plain similarity finds a held-out pair for 3 "
                                     "of the 40 test queries, at least 10 are needed")
    found = [(1.0, 0.0)] * 12 + [(0.0, 0.0)] * 28  # for 12: the ratio's interval too, and a finite one
    low, high = _intervals(model, found, 0)["ratio to best plain similarity, 95 % interval"]
    assert 0 < low < high < 10


def test_a_category_like_column_is_no_design_and_a_grouping_that_hides_every_test_pair_says_so(tmp_path):
    from core.complement_eval import evaluation_queries
    from core.complement_splits import design_column, variant_columns

    cat, kinds = shop(tmp_path)
    with cat.transaction():
        for i, pk in enumerate(sorted(kinds)):  # 4 products a value on average, but one value for 45 % of them
            cat.execute("INSERT INTO attributes VALUES (?, 'subCategory', ?)", (pk, "Topwear" if i < 108 else f"s{i}"))
            cat.execute("INSERT INTO attributes VALUES (?, 'store', 'Main')", (pk,))
    assert design_column(cat) is None and variant_columns(cat) == []
    from core.catalog import Catalog, ProductRecord

    with Catalog.create(tmp_path / "small.vitrina") as small, small.transaction():
        for i in range(36):  # a small catalog's designs of 4: each over a tenth of it, yet a design, not a kind
            small.upsert_product(ProductRecord(f"S{i}", f"shirt {i}", "", None, None, None,
                                               {"product_code": f"d{i // 4}"}, str(i)))
        assert design_column(small) == "product_code"
    assert evaluation_queries(cat, None)  # each product alone: test products with pairs
    with pytest.raises(AppError, match=r"because products that share their store are kept together: 1 group of "
                                       r"products \(the largest holds 240 of 240\).*--group-by none"):
        evaluation_queries(cat, "store")


def test_a_catalog_with_too_few_validation_pairs_fits_its_ranker_on_pairs_its_first_stage_did_not_see(tmp_path):
    """Below 20 bought validation candidates the linear ranker learned from the training products' pairs, which
    stage 1 had memorised: it then trusted "learned from co-purchases", which new products never have."""
    cat, kinds = shop(tmp_path, n=60)
    seen = []
    model = train_complements(cat, rank=8, epochs=10, folds=2, on_progress=seen.append)
    assert model.info["ranker"] == "logistic regression"
    assert model.info["ranker_fit_on"] == "validation and cross-fitted training (2 folds)"
    assert seen[-1].done == seen[-1].total and all(p.total == seen[-1].total for p in seen[1:])
    assert any("outside fold 2 of 2" in p.message for p in seen)
    alone = train_complements(cat, rank=8, epochs=10, folds=1)  # no folds: said as what it is
    assert alone.info["ranker_fit_on"] == "training"


def test_a_catalog_whose_pairs_all_hold_one_product_learns_without_its_fold(tmp_path):
    """A gift card bought with everything: the fold holding it leaves no pair outside it to learn a first stage
    from (an IndexError), so that fold is skipped."""
    from core.complement_splits import product_split

    rng = np.random.default_rng(0)
    cat = Catalog.create(tmp_path / "hub.vitrina")
    with cat.transaction():
        cat.set_fields({"kind": "category"})
        pks = [cat.upsert_product(ProductRecord(f"p{i}", f"item {i}", "", None, None, None, {"kind": "ab"[i % 2]},
                                                "h")) for i in range(90)]
        for space in ("vit", "text"):
            v = rng.normal(size=(len(pks), 8))
            cat.put_embeddings(space, "toy", pks, ["h"] * len(pks), v / np.linalg.norm(v, axis=1, keepdims=True))
        split = product_split(cat, None, 0)
        hub = next(p for p in pks if split[p] == "train")
        cat.add_copurchases([(hub, p, 1.0) for p in pks if p != hub])
    seen = []
    model = train_complements(cat, rank=4, epochs=2, folds=2, on_progress=seen.append)
    assert model.info["ranker"] == "logistic regression" and seen[-1].done == seen[-1].total
