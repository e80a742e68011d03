"""CLI commands of catalog insights: ``clusters`` and ``goes-with``."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core.errors import AppError


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("clusters", help="cluster the catalog's products and name the clusters")
    p.add_argument("catalog", type=Path)
    p.add_argument("--method", choices=("kmeans", "hdbscan"), default="kmeans")
    p.add_argument("-k", type=int, help="number of KMeans clusters (default: from the catalog size)")
    p.add_argument("--space", help="vector space (default: vit, else image, else text)")
    p.set_defaults(func=cmd_clusters)

    p = sub.add_parser("goes-with", help="train, evaluate or ask the complementary-products model")
    p.add_argument("catalog", type=Path)
    p.add_argument("--train", action="store_true", help="learn from the catalog's co-purchase pairs")
    p.add_argument("--eval", action="store_true", help="Recall@10 / NDCG@10 on held-out test products")
    p.add_argument("--product", metavar="ID", help="complements of this product")
    p.add_argument("--group-by", help="the column a design's variants share, kept in one split (default: found "
                                      "in the catalog, e.g. H&M's product_code; 'none': each product alone)")
    p.add_argument("--json", type=Path, metavar="FILE",
                   help="also write the results here as JSON: the evaluation's figures, what --train learned "
                        "(\"trained\") and --product's recommendations with their evidence (\"recommendations\")")
    p.set_defaults(func=cmd_goes_with)


def add_cluster_options(p: argparse.ArgumentParser, what: str) -> None:
    """``--cluster`` and the clustering it refers to, shared by the commands that can keep to one cluster."""
    p.add_argument("--cluster", metavar="NUMBER|NAME",
                   help=f"{what} only among this cluster's products (as `vitrina clusters` lists them)")
    p.add_argument("--cluster-method", choices=("kmeans", "hdbscan"), default="kmeans",
                   help="the clustering --cluster refers to, as `vitrina clusters --method`")
    p.add_argument("--cluster-k", type=int, metavar="K", help="as `vitrina clusters -k` (default: its default)")
    p.add_argument("--cluster-space", metavar="SPACE",
                   help="as `vitrina clusters --space` (default: vit, else image, else text)")


def clustering_of(catalog, args):
    """The clustering that ``vitrina clusters`` lists with the same method, -k and space (the cluster numbers
    of another one name other clusters: `--cluster 4` of `clusters -k 5` searched the default k's cluster 4)."""
    from core.insights import cluster

    if args.cluster_k is not None and args.cluster_k < 2:
        raise AppError(f"--cluster-k needs at least 2 clusters (got {args.cluster_k}).")
    if args.cluster_k is not None and args.cluster_method != "kmeans":
        raise AppError("--cluster-k is the number of KMeans clusters: HDBSCAN finds its own number (drop "
                       "--cluster-k, or use --cluster-method kmeans).")
    return cluster(catalog, args.cluster_space, args.cluster_method, args.cluster_k)


def cluster_named(catalog, args):
    """(clustering, cluster) of ``--cluster`` and its options, said on stderr: which clustering, which cluster."""
    clustering = clustering_of(catalog, args)
    chosen = clustering.find(args.cluster)
    print(f"cluster {chosen.label} of {clustering.summary()}: {chosen.name}, {chosen.size} products",
          file=sys.stderr)
    return clustering, chosen


def cmd_clusters(args) -> int:
    from core.catalog import Catalog
    from core.insights import cluster

    if args.k is not None and args.method != "kmeans":  # it ran HDBSCAN, unsaid that -k counted for nothing
        raise AppError("-k is the number of KMeans clusters: HDBSCAN finds its own number (drop -k, or use "
                       "--method kmeans).")
    with Catalog.open(args.catalog) as catalog:
        c = cluster(catalog, args.space, args.method, args.k)
    print(c.summary())
    for x in sorted(c.clusters, key=lambda x: -x.size):
        print(f"  {x.label:>3}  {x.size:>6}  {x.name}   [{', '.join(x.words)}]")
    return 0


def cmd_goes_with(args) -> int:
    from core.catalog import Catalog
    from core.cli import check_output, progress_shown
    from core.complement_eval import evaluate_complements, evaluation_queries
    from core.complement_model import ComplementModel, model_path
    from core.complement_splits import ALL_SPLITS, EVALUATION_SPLITS, design_column
    from core.complement_training import train_complement_models
    from core.complements import badge, recommend, why

    if not (args.train or args.eval or args.product is not None):
        raise AppError("Say what to do: --train (learn from the co-purchase pairs), --eval (measure it) or "
                       "--product ID (what goes with that product).")
    if args.group_by is not None and not (args.train or args.eval):  # only learning splits the products
        raise AppError("--group-by says how --train and --eval split the products: give it with one of them.")
    check_output(args.json, catalogs=[args.catalog])
    written: dict = {}  # what --json writes
    with Catalog.open(args.catalog) as catalog:
        path = model_path(catalog)
        model = None
        pk = None if args.product is None else catalog.pk_for_sku(args.product)
        if args.product is not None and pk is None:  # said now, not after minutes of learning
            raise AppError(f"No product with id '{args.product.strip()}' in {catalog.name}.")
        # the evaluation's model never sees the test products' pairs (the saved one learns from all); with
        # both, they are learned together: the same split fits the same ranker
        wanted = ([ALL_SPLITS] if args.train else []) + ([EVALUATION_SPLITS] if args.eval else [])
        models = []
        if wanted:
            group_by = None if args.group_by == "none" else args.group_by or design_column(catalog)
            if group_by is not None and group_by not in catalog.attribute_keys():
                raise AppError(f"{catalog.name} has no column '{group_by}'; its columns: "
                               f"{', '.join(catalog.attribute_keys()) or 'none'} (or --group-by none).")
            print(f"variants that share {group_by} are kept in one split" if group_by else
                  "each product is split on its own (no column names a design's variants)")
            if args.eval:
                evaluation_queries(catalog, group_by)  # none: said now, not after minutes of learning
                print("evaluating: a model learned without the test products' pairs"
                      + (" (and the application's, which learns from all)" if args.train else "") + " ...")
            with progress_shown("goes-with") as show:
                models = train_complement_models(catalog, group_by=group_by, learn_from=tuple(wanted),
                                                 on_progress=show)
        if args.train:
            model = models[0]
            model.save(path)
            print(f"complement model trained on {model.info['pairs']} pairs (every pair of the catalog), ranker "
                  f"({model.info['ranker']}) fitted on {model.info['ranker_fit_on']} products' pairs; compatibility on "
                  f"{', '.join(model.fields) or 'no field'}; popularity among the buyers of each "
                  f"{', '.join(model.group_fields) or 'no attribute'} -> {path}")
            written["trained"] = {"path": str(path), "fields": list(model.fields),
                                  "group_fields": list(model.group_fields), **model.info}
            if "importance" in model.info:  # trees: the mean size of each feature's share of a score
                for name, v in sorted(model.info["importance"].items(), key=lambda kv: -kv[1]):
                    print(f"  mean |share| {v:.3f}  {name}")
            else:
                for name, w in sorted(model.info["weights"].items(), key=lambda kv: -abs(kv[1])):
                    print(f"  weight {w:+.3f}  {name}")
        if args.eval:
            result = evaluate_complements(catalog, models[-1], group_by)
            for name, v in result.items():
                print(f"  {name}: {v}")
            written |= result  # the figures as top-level keys, as --json wrote them before
        if args.product is not None:
            if model is None and path.exists():  # not just trained: the saved one
                model = ComplementModel.load(path).named(catalog)
            note = None
            try:
                recs = recommend(catalog, model, pk, 10)
            except AppError as exc:  # the model cannot score this product: its known pairs, and why
                recs = recommend(catalog, None, pk, 10)
                note = f"Known co-purchases only. {exc}"
                print(note)
            if not recs:
                note = (f"Nothing known to go with {args.product}: it has no co-purchase pairs"
                        + ("." if model is not None else ", and no model was trained (goes-with --train)."))
                print(note)
            rows = []
            for c in recs:
                p = catalog.product(c.pk)
                print(f"  {badge(c):>6}  {p.sku:<14} {p.title}   ({why(c)})")
                rows.append({"product": p.sku, "title": p.title, "kind": "bought" if c.known else "learned",
                             "score": round(c.score, 4), "badge": badge(c), "evidence": c.evidence})
            written |= {"product": args.product, "recommendations": rows, **({"note": note} if note else {})}
    if args.json:
        args.json.write_text(json.dumps(written, indent=2, ensure_ascii=False))
    return 0
