"""``vitrina explain``: why a product matches a query, as numbers and overlay images."""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from core.errors import AppError


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("explain", help="explain why a product matches a query (maps, words, faithfulness)")
    p.add_argument("catalog", type=Path)
    p.add_argument("--result", required=True, metavar="ID", help="the recommended product to explain")
    p.add_argument("--image", type=Path, help="the query photo")
    p.add_argument("--text", default="", help="the query text")
    p.add_argument("--image-weight", type=float, default=0.5,
                   help="with both: 0 = the text only .. 1 = the photo only (default 0.5, as in search)")
    p.add_argument("--out", type=Path, help="write overlay PNGs (at most 1024 pixels a side) and explanation.json "
                                            "(the query, the numbers, the words in text order, the files) here")
    p.add_argument("--perturbation", action="store_true",
                   help="also the perturbation map of the result's photo and its faithfulness (256 model passes)")
    p.set_defaults(func=cmd_explain)


def overlay_name(side: str, method: str) -> str:
    return f"{side}-{method.replace(' ', '-')}.png"


def overlay_names() -> list[str]:
    """Every overlay file an explanation may write."""
    from explain.explainer import IMAGE_METHODS, VIEWS

    return [overlay_name("result", k) for k in VIEWS] + [overlay_name("query", k) for k in IMAGE_METHODS]


def cmd_explain(args) -> int:
    from core.cli import open_engine_cli, out_folder
    from core.images import load_image
    from core.search import has_words
    from explain.explainer import IMAGE_METHODS, SLOW_METHODS, MatchExplainer
    from explain.overlay import VIEW_SIDE, overlay
    from explain.report import text_note
    from explain.tokens import coverage_note
    from explain.types import MATCH_MAP

    if args.image is None and not has_words(args.text):  # a zero-width space alone too, as `search` says
        raise AppError("Give the query: --image PHOTO and/or --text WORDS.")
    if not 0.0 <= args.image_weight <= 1.0:  # NaN too
        raise AppError(f"--image-weight must be between 0 and 1 (got {args.image_weight}).")
    engine = open_engine_cli(args.catalog)
    pk = engine.catalog.pk_for_sku(args.result)
    if pk is None:
        raise AppError(f"No product with id '{args.result}' in {engine.catalog.name}.")
    product = engine.catalog.product(pk)
    result_image = load_image(Path(product.image_path)).image if product.image_path else None
    query_image = load_image(args.image).image if args.image else None
    if args.out:  # made once the catalog, the product and both photos are known to be there
        out_folder(args.out, "overlays")
        taken = [name for name in overlay_names() + ["explanation.json"] if (args.out / name).is_dir()]
        if taken:  # found after the whole computation, it was "Is a directory"
            raise AppError(f"{args.out} holds a folder named {taken[0]}, where the explanation writes a file: "
                           "move it or choose another --out.")
    explainer = MatchExplainer(engine.space("vit").encoder.load())
    slow = SLOW_METHODS if args.perturbation else ()
    m = explainer.explain(result_image, product.title, product.description, query_image, args.text,
                          faithfulness=IMAGE_METHODS + slow, image_weight=args.image_weight)
    similarity = f"{m.score:.3f}" if math.isfinite(m.score) else "n/a (the product has no photo)"
    print(f"{product.sku}  {product.title}\nsimilarity to the query (ViT space): {similarity}")
    note = text_note(explainer, args.text)
    if note:
        print(f"note: {note}")
    for method, c in m.faithfulness.items():
        faith = f"{c.faithfulness:+.2f}" if c.measurable else "not measurable"
        print(f"  {method:<28} faithfulness {faith}  deletion AUC {c.deletion_auc:.3f} "
              f"(random {c.random_deletion_auc:.3f})  insertion AUC {c.insertion_auc:.3f}")
    for name, words in m.words.items():
        top = sorted(zip(words.tokens, words.values), key=lambda t: -t[1])[:5]
        shown = ", ".join(f"{w} {v:+.3f}" for w, v in top) + f"  (IG delta {words.extras['delta']:+.4f})" if top else ""
        print(f"  words of the {name}: " + "; ".join(part for part in (shown, coverage_note(words)) if part))
    if args.out:
        # An earlier explanation's overlays would pass for this one's: each run leaves only its own.
        for name in overlay_names():
            (args.out / name).unlink(missing_ok=True)
        images = [(overlay_name("result", k), result_image, e) for k, e in m.result_maps.items()]
        images += [(overlay_name("query", k), query_image, e) for k, e in m.query_maps.items()]
        if m.match is not None:
            images.append((overlay_name("result", MATCH_MAP), result_image, m.match))
        for name, image, exp in images:
            overlay(image, exp, max_side=VIEW_SIDE).save(args.out / name)
        (args.out / "explanation.json").write_text(json.dumps({
            "product": product.sku, "score": m.score if math.isfinite(m.score) else None, "seconds": m.seconds,
            "query": {"text": args.text, "photo": str(args.image.resolve()) if args.image else None,
                      "image_weight": args.image_weight},
            "faithfulness": {k: {n: None if isinstance(v, float) and v != v else v for n, v in c.to_dict().items()}
                             for k, c in m.faithfulness.items()},  # NaN (not measurable) -> null
            "words": {k: [[t, float(v)] for t, v in zip(w.tokens, w.values)] for k, w in m.words.items()},  # text order
            "words_note": {k: coverage_note(w) for k, w in m.words.items() if coverage_note(w)},
            "files": [name for name, _, _ in images]}, indent=2))
        print(f"overlays written to {args.out}")
    return 0
