"""CLI commands of the vision transformer: ``train-vit``, ``adapt`` and ``zero-shot``."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from core.cli import number
from core.errors import AppError


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-vit", help="train the hybrid ViT from scratch on imported catalogs")
    p.add_argument("out", type=Path, help="folder for vit.safetensors (e.g. resources/models/vit)")
    p.add_argument("--catalog", action="append", required=True, metavar="PATH[:GROUP_COLUMN]",
                   help="a catalog to train on; GROUP_COLUMN keeps variants in one split (repeatable)")
    p.add_argument("--work", type=Path, default=Path("out/vit-work"), help="feature cache and checkpoints")
    p.add_argument("--epochs", type=number(1, kind=int), default=12)
    p.add_argument("--batch-size", type=number(1, kind=int), default=256)
    p.add_argument("--lr", type=number(1e-7, 1.0), default=5e-4)
    p.add_argument("--dim", type=number(1, 4096, kind=int), default=192,
                   help="token width, a multiple of the attention heads (4)")
    p.add_argument("--depth", type=number(1, 64, kind=int), default=4)
    p.add_argument("--seed", type=number(0, kind=int), default=0)
    p.add_argument("--dilate", action="store_true",
                   help="tokens from all backbone blocks, the stride-32 stage dilated (320 x 14 x 14)")
    p.add_argument("--mid-features", action="store_true",
                   help="with --dilate: the stride-16 stage's features too, per token (432 channels)")
    p.add_argument("--group-pairs", action="store_true",
                   help="pair variants of one group in each batch (needs a GROUP_COLUMN)")
    p.add_argument("--image-loss", type=number(0.0), default=0.0,
                   help="weight of the image-to-image term between variants of one group")
    p.add_argument("--category-loss", type=number(0.0), default=0.0,
                   help="weight of the image-to-image term between products with the same category values")
    p.add_argument("--summary", type=Path, help="write the run summary as JSON here")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("adapt", help="fine-tune the ViT on a catalog; kept only if it beats the current one")
    p.add_argument("catalog", type=Path)
    p.add_argument("--epochs", type=number(1, kind=int), default=4)
    p.set_defaults(func=cmd_adapt)

    p = sub.add_parser("zero-shot", help="the category of a photo, from the catalog's category names")
    p.add_argument("catalog", type=Path)
    p.add_argument("image", type=Path)
    p.add_argument("--field", help="category field (default: the most specific one with 3+ values)")
    p.set_defaults(func=cmd_zero_shot)


def _sources(specs: list[str]):
    from core.vit_training import CatalogSource

    out = []
    for spec in specs:
        path, _, group = spec.partition(":")
        if not Path(path).is_file():
            raise AppError(f"No catalog at {path}: import it first with `vitrina import`.")
        out.append(CatalogSource(Path(path), group or None))
    return out


def cmd_train(args) -> int:
    from core.cli import _drive, check_output, out_folder
    from core.train import TrainSettings
    from core.vit import VitConfig
    from core.vit_training import train_on_catalogs

    heads = VitConfig().heads
    if args.dim % heads:
        raise AppError(f"--dim {args.dim} is not a multiple of the {heads} attention heads; "
                       f"give e.g. {max(1, round(args.dim / heads)) * heads}.")
    sources = _sources(args.catalog)
    check_output(args.summary, catalogs=[source.path for source in sources])
    out_folder(args.out, "trained model")
    settings = TrainSettings(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                             group_pairs=args.group_pairs, image_loss=args.image_loss,
                             category_loss=args.category_loss)
    cfg = VitConfig(dim=args.dim, depth=args.depth)
    if args.dilate:
        cfg = VitConfig(dim=args.dim, depth=args.depth, backbone_blocks=16, in_channels=432 if args.mid_features else 320,
                        dilate_last_stage=True, mid_features=args.mid_features)
    summary = _drive(train_on_catalogs(sources, args.out, args.work, settings, cfg), "train-vit")
    print(json.dumps({k: v for k, v in summary.items() if k != "history"}, indent=2))
    for row in summary["history"]:
        val = row["val_text_to_image_r10"]
        print(f"epoch {row['epoch']:>2}  loss {row['loss']:.3f}  val text->image R@10 "
              + ("n/a (no validation products)" if val is None else f"{val:.3f}"))
    if args.summary:
        args.summary.write_text(json.dumps(summary, indent=2))
    return 0


def cmd_adapt(args) -> int:
    from core.catalog import Catalog
    from core.cli import _drive
    from core.train import TrainSettings
    from core.vit_training import adapt_to_catalog

    with Catalog.open(args.catalog) as catalog:
        result = _drive(adapt_to_catalog(catalog, TrainSettings(epochs=args.epochs, lr=1e-4, batch_size=128)), "adapt")
    print(f"held-out text->image R@{result.k} on {result.held_out} products: current {result.before:.3f}, "
          f"adapted {result.after:.3f}")
    print("kept the adapted model; run `vitrina index` to re-embed" if result.kept else "kept the current model")
    return 0


def cmd_zero_shot(args) -> int:
    from core.cli import open_engine_cli
    from core.images import load_image
    from core.zero_shot import classify

    engine = open_engine_cli(args.catalog)
    for label, p in classify(engine, load_image(args.image).image, args.field)[:5]:
        print(f"{p:6.3f}  {label}")
    return 0
