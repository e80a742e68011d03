"""The command line: ``vitrina import | index | search | eval`` (``main.py`` adds the GUI and more).

Long work shows a tqdm progress bar; errors from the engine are printed as their message
(they say what to do) with exit status 2, never as a traceback.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import sqlite3
import sys
import time
from pathlib import Path

from core.cli_insights import add_cluster_options, cluster_named
from core.errors import AppError, user_message

log = logging.getLogger(__name__)


def number(low: float | None = None, high: float | None = None, kind=float):
    """An argparse type: a finite number within [low, high] (NaN compared false with every bound: a NaN price
    filtered out every product, a NaN threshold was ignored)."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a{'n integer' if kind is int else ' number'}") from None
        if not math.isfinite(value) or (low is not None and value < low) or (high is not None and value > high):
            span = (f"from {low:g}" if low is not None else "") + (f" to {high:g}" if high is not None else "")
            raise argparse.ArgumentTypeError(f"{text}: give a number {span.strip() or 'that is finite'}")
        return value
    return parse


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import", help="import products (CSV or JSON Lines) and their images into a catalog")
    p.add_argument("catalog", type=Path, help="catalog file to create or update (e.g. shop.vitrina)")
    p.add_argument("source", type=Path, help="products file: .csv, .tsv or .jsonl")
    p.add_argument("--images", type=Path, help="image folder (default: the products file's folder)")
    for f in ("id", "title", "description", "brand", "price", "rating", "image"):
        p.add_argument(f"--{f}", dest=f"map_{f}", metavar="COLUMN", help=f"column holding the {f}")
    p.add_argument("--category", action="append", default=[], metavar="COLUMN",
                   help="a category column usable as a filter (repeatable)")
    p.add_argument("--pairs", type=Path, help="co-purchase pairs file (two id columns, optional weight)")
    p.add_argument("--require-image", action="store_true", help="skip products without an image")
    p.add_argument("--prune", action="store_true", help="remove catalog products missing from the file")
    p.add_argument("--report", type=Path, help="write the import report as JSON here")
    p.add_argument("--clip", type=Path, metavar="FOLDER",
                   help="also embed with a local CLIP/SigLIP checkpoint (transformers format) from FOLDER")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("index", help="embed what is missing (e.g. after a model change) and update the indexes")
    p.add_argument("catalog", type=Path)
    p.add_argument("--rebuild", action="store_true", help="rebuild from the stored vectors")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("search", help="search a catalog by text, image or product")
    p.add_argument("catalog", type=Path)
    p.add_argument("--text", default="", help="what you are looking for")
    p.add_argument("--image", type=Path, help="a query photo")
    p.add_argument("--like", action="append", default=[], metavar="ID", help="more like this product (repeatable)")
    p.add_argument("--unlike", action="append", default=[], metavar="ID", help="less like this product")
    p.add_argument("--not", dest="unlike_text", action="append", default=[], metavar="TERM", help="less like these words")
    p.add_argument("--image-weight", type=float, default=0.5, help="0 = text only .. 1 = image only (default 0.5)")
    p.add_argument("--negative-weight", type=float, default=0.5, help="strength of --unlike/--not (0..2)")
    p.add_argument("--filter", action="append", default=[], metavar="FIELD=VALUE", help="category filter (repeatable)")
    p.add_argument("--price-min", type=number(0))
    p.add_argument("--price-max", type=number(0))
    p.add_argument("--rating-min", type=number(0))
    p.add_argument("--min-score", type=number(-1, 1), help="relevance threshold (-1..1)")
    add_cluster_options(p, "search")
    p.add_argument("-k", type=int, default=10, help="number of results")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("eval", help="retrieval quality: P@K, R@K, NDCG@K, MRR")
    p.add_argument("catalog", type=Path)
    p.add_argument("--label", required=True, help="relevance: same value of this column, or 'copurchase'")
    p.add_argument("--queries", type=number(1, kind=int), default=500)
    p.add_argument("-k", type=number(1, kind=int), default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--modes", default="image,text,fused")
    p.add_argument("--spaces", help="only these embedding spaces, comma-separated (e.g. vit, or image)")
    p.add_argument("--split", choices=("train", "val", "test"),
                   help="queries and searched products from this split of the product-level split only")
    p.add_argument("--group-by", help="split unit column (e.g. product_code); default: the product id")
    p.add_argument("--split-seed", type=int, default=0)
    p.add_argument("--json", type=Path, help="write the figures here")
    p.set_defaults(func=cmd_eval)


def _progress(total=None, desc=""):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="row", file=sys.stderr, disable=None)


def cmd_import(args) -> int:
    from core.catalog import Catalog
    from core.ingest import ColumnMapping, ImportOptions, import_catalog, import_copurchases
    from core.sources import inspect_source
    from core.spaces import add_clip_space, spaces_for

    # the files are checked before a catalog is made for them, not after the import
    check_output(args.report, catalogs=[args.catalog], inputs=[args.source, args.pairs])
    info = inspect_source(args.source, whole=True)  # a JSON Lines file's keys on every line, not the first ones only
    if args.pairs:
        inspect_source(args.pairs)
    overrides = {f: getattr(args, f"map_{f}")
                 for f in ("id", "title", "description", "brand", "price", "rating", "image")}
    mapping = ColumnMapping.guess(info.columns, info.key_counts, **overrides) \
        .with_overrides(categories=tuple(args.category) or None)
    mapping.validate(info.columns)
    created = not args.catalog.exists()
    catalog = Catalog.open(args.catalog, create=True)
    try:
        if args.clip:
            add_clip_space(catalog, str(args.clip))
        spaces = spaces_for(catalog)
        gen = import_catalog(catalog, args.source, mapping, spaces,
                             ImportOptions(image_root=args.images, require_image=args.require_image, prune=args.prune))
        report = _drive(gen, "import")
    except BaseException:
        if created:  # a first import that failed (a bad --clip folder) leaves no empty catalog, unless another
            catalog.discard_if_unused()  # process fills it meanwhile
        raise
    print(report.summary())
    _print_skipped(report, args.report)
    pairs = None
    if args.pairs:
        pairs = import_copurchases(catalog, args.pairs)
        print(pairs.pairs_summary())
        _print_skipped(pairs, args.report)
    from core.engine import Engine

    engine = Engine(catalog, spaces)
    for message in engine.load_indexes():
        print(f"index {message}")
    if args.report:
        args.report.write_text(json.dumps(_report_json(report, pairs), indent=2, default=str))
    return 0


def _print_skipped(report, report_file: Path | None = None) -> None:
    """How many rows were skipped for each reason, and the first ten of them; the first five notes."""
    for reason, n in sorted(report.reasons().items(), key=lambda kv: -kv[1]):
        print(f"  skipped {n:>6} x {reason}")
    for s in report.skipped[:10]:
        print(f"    {s.detail}")
    if report.notes:  # imported, with something to know (a line read as Windows-1252, a pair merged, an image)
        print(f"  {len(report.notes)} note{'s' if len(report.notes) > 1 else ''}"
              + ("" if len(report.notes) <= 5 else f" (all in {report_file.name})" if report_file
                 else ", the first 5 (--report FILE lists all)") + ":")
        for line, sku, note in report.notes[:5]:
            print(f"    {note if note.startswith('line ') else f'line {line} ({sku}): {note}'}")


def _report_json(report, pairs) -> dict:
    """The --report file: the products' report, with the co-purchase pairs' counts, skips and merges when a pairs
    file was imported ("pairs": the pairs new to the catalog)."""
    out = report.to_dict()
    if pairs is not None:
        out |= {k: getattr(pairs, k) for k in ("pairs", "pairs_known", "pairs_merged", "pairs_reversed")}
        out["pairs_file"] = {"source": pairs.source, "skipped": pairs.to_dict()["skipped"], "notes": pairs.notes}
    return out


@contextlib.contextmanager
def progress_shown(desc: str):
    """A callback that shows each Progress on a progress bar (a line every 10 s without a terminal)."""
    bar = _progress(desc=desc)
    last = [0.0]

    def show(p):
        bar.total, bar.n = p.total, p.done
        bar.set_postfix_str(p.message, refresh=False)
        bar.refresh()
        if bar.disable and time.monotonic() - last[0] > 10:  # no terminal (a log file): a line every 10 s
            last[0] = time.monotonic()
            print(f"{desc}: {p.done}/{p.total or '?'} {p.message}", file=sys.stderr, flush=True)

    try:
        yield show
    finally:
        bar.close()


def _drive(task, desc: str):
    """Run a task generator under a progress bar; returns its result."""
    from core.progress import drain

    with progress_shown(desc) as show:
        return drain(task, show)


def out_folder(folder: Path, what: str) -> Path:
    """An output folder, made and tried now: one that cannot be written fails before minutes of work."""
    if folder.exists() and not folder.is_dir():
        raise AppError(f"{folder} is a file; give a folder for the {what}.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".vitrina-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise AppError(f"The {what} cannot be written to {folder}: {exc.strerror or exc}.") from exc
    return folder


def open_engine_cli(path: Path):
    from core.catalog import Catalog
    from core.engine import Engine
    from core.spaces import spaces_for

    catalog = Catalog.open(path)
    engine = Engine(catalog, spaces_for(catalog))
    for message in engine.load_indexes():
        log.info("index %s", message)
    return engine


def cmd_index(args) -> int:
    from core.catalog import Catalog
    from core.engine import Engine
    from core.progress import Progress
    from core.spaces import reembed_all, spaces_for, stored_photos

    catalog = Catalog.open(args.catalog)
    engine = Engine(catalog, spaces_for(catalog))
    unreadable: dict[int, str] = {}
    image_of = stored_photos(catalog, unreadable)
    for space in engine.spaces.values():  # vectors missing or from another encoder: compute them
        _drive((Progress(done, total, space.name) for done, total in reembed_all(catalog, space, image_of)),
               f"embed {space.name}")
    for pk, why in unreadable.items():
        log.warning("product %d: %s", pk, why)
    if args.rebuild:
        for name in engine.spaces:
            idx = engine.rebuild(name)
            print(f"{name}: rebuilt, {len(idx):,} vectors ({idx.kind})")
    else:
        for message in engine.load_indexes():
            print(message)
    return 0


def cmd_search(args) -> int:
    from core.images import load_image
    from core.search import UNREAD_NOTE, Filters, Query, search, unread_text

    engine = open_engine_cli(args.catalog)
    cat = engine.catalog

    def pks(skus):
        out = []
        for sku in skus:
            pk = cat.pk_for_sku(sku)
            if pk is None:
                raise AppError(f"No product with id '{sku}' in {cat.name}.")
            out.append(pk)
        return tuple(out)

    categories: dict[str, tuple[str, ...]] = {}
    for item in args.filter:
        key, sep, value = item.partition("=")
        if not sep:
            raise AppError(f"Write filters as FIELD=VALUE (got '{item}').")
        categories[key] = categories.get(key, ()) + (value,)
    categories = catalog_spellings(cat, categories)
    members = None
    if args.cluster is not None:
        clustering, chosen = cluster_named(cat, args)
        members = clustering.members(chosen.label)
    like, unlike = pks(args.like), pks(args.unlike)
    both = [sku for sku, pk in zip(args.like, like) if pk in unlike]
    if both:  # its scores were halved, unsaid
        raise AppError(f"Product '{both[0].strip()}' is given both as --like and as --unlike: give it to one of them.")
    q = Query(text=args.text, image=load_image(args.image).image if args.image else None, like=like,
              unlike=unlike, unlike_text=tuple(args.unlike_text), image_weight=args.image_weight,
              negative_weight=args.negative_weight,
              filters=Filters(categories, args.price_min, args.price_max, args.rating_min, members),
              min_score=args.min_score, k=args.k)
    hits = search(engine, q)
    if unread_text(engine, q):  # said, not left to look like an answer to the emoji typed
        print(f"vitrina: note: {UNREAD_NOTE}.", file=sys.stderr)
    products = {p.pk: p for p in cat.products([h.pk for h in hits])}
    rows = [dict(rank=i + 1, id=products[h.pk].sku, title=products[h.pk].title, score=round(h.score, 4),
                 **{f"score_{k}": round(v, 4) for k, v in h.parts.items()}) for i, h in enumerate(hits)]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        for r in rows:
            print(f"{r['rank']:>3}  {r['score']:.3f}  {r['id']:<14} {r['title']}")
        if not rows and not len(cat):  # no filter to loosen: nothing to find
            print(f"No results: {cat.name} has no products yet (add them with `vitrina import`).")
        elif not rows and (q.filters.active() or q.min_score is not None):
            print("No results: loosen the filters or the relevance threshold.")
        elif not rows and len(set(like)) >= len(cat):  # examples are never their own results
            print(f"No results: every product of {cat.name} is an example given with --like.")
        elif not rows:
            print(f"No results: no product of {cat.name} could be compared with this query.")
    return 0


def catalog_spellings(cat, categories: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """Each filter value as the catalog spells it (``red``, `` Red`` -> ``Red``); a value no product has is an
    error naming the field's values (it gave "No results: loosen the filters" without a hint). An unknown field
    is left to the search, which names the fields."""
    known_fields = set(cat.attribute_keys())
    out = {}
    for key, values in categories.items():
        if key not in known_fields:
            out[key] = values
            continue
        spelled = {v: v for v, _ in cat.field_values(key)}
        folded = {v.strip().casefold(): v for v in spelled}
        resolved = []
        for value in values:
            match = spelled.get(value) or folded.get(value.strip().casefold())
            if match is None:
                common = [v for v, _ in cat.field_values(key)[:10]]
                more = len(spelled) - len(common)
                raise AppError(f"No product has {key}={value!r}. Its values: {', '.join(common)}"
                               + (f" and {more} more." if more > 0 else "."))
            resolved.append(match)
        out[key] = tuple(dict.fromkeys(resolved))
    return out


def catalog_files(path: Path) -> list[Path]:
    """A catalog and what lives beside it under its name: SQLite's journal files, its indexes' and models' folders."""
    path = Path(path)
    return [path, *(path.with_name(path.name + end) for end in ("-wal", "-shm", "-journal", ".index", ".models"))]


def _same(a: Path, b: Path) -> bool:
    """Whether ``a`` is ``b`` or lies inside it (through links too, a hard link included)."""
    real_a, real_b = os.path.realpath(a), os.path.realpath(b)
    if real_a == real_b or real_a.startswith(real_b.rstrip(os.sep) + os.sep):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them is not there
        return False


def check_output(path: Path | None, catalogs=(), inputs=()) -> None:
    """Says before a long run that its output file cannot be written (not after it), or must not be: a file of one
    of the ``catalogs`` or one of the ``inputs`` (``--report shop.vitrina`` replaced the catalog with the import's
    report, ``--report shop.vitrina-wal`` emptied it unsaid, ``--report products.csv`` replaced the products file)."""
    if path is None:
        return
    for catalog in catalogs:
        for part in catalog_files(catalog):
            if _same(path, part):
                what = "the catalog" if part == Path(catalog) else f"a file of the catalog {catalog}"
                raise AppError(f"Cannot write {path}: it is {what}, which it would destroy. Give another file name.")
    for source in inputs:
        if source is not None and _same(path, source):
            raise AppError(f"Cannot write {path}: it is the input file {source}, which it would replace. "
                           "Give another file name.")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise AppError(f"Cannot write {path}: the folder {folder} does not exist.")
    if not os.access(folder, os.W_OK) or path.is_dir():
        raise AppError(f"Cannot write {path}: " + ("it is a folder." if path.is_dir() else f"{folder} is read-only."))


def cmd_eval(args) -> int:
    from core.evaluate import MODES, evaluate

    check_output(args.json, catalogs=[args.catalog])
    modes = tuple(dict.fromkeys(m.strip() for m in args.modes.split(",") if m.strip()))  # image,image: once
    if not modes or set(modes) - set(MODES):
        raise AppError(f"Unknown mode in --modes '{args.modes}': use {', '.join(MODES)} (comma-separated).")
    engine = open_engine_cli(args.catalog)
    from core.evaluate import split_pks

    spaces = tuple(x.strip() for x in args.spaces.split(",") if x.strip()) if args.spaces else None
    if spaces is not None and (not spaces or set(spaces) - set(engine.spaces)):
        raise AppError(f"Unknown space in --spaces '{args.spaces}': {engine.catalog.name} has "
                       f"{', '.join(engine.spaces)}.")
    if args.group_by and args.group_by not in engine.catalog.attribute_keys():
        raise AppError(f"{engine.catalog.name} has no column '{args.group_by}' to split by; its columns: "
                       f"{', '.join(engine.catalog.attribute_keys()) or 'none'}.")
    within = split_pks(engine, args.split, args.split_seed, args.group_by) if args.split else None
    result = _drive(evaluate(engine, args.label, args.queries, args.k, args.seed, modes,
                             query_pks=within, restrict_to=within, spaces=spaces), "eval")
    print(result.table())
    if args.json:
        result.to_json(args.json)
    return 0


def check_text_arguments(args, parser: argparse.ArgumentParser) -> None:
    """Text given in another encoding than UTF-8 (a Latin-1 script's "café") reaches Python with the bytes it
    cannot read as lone surrogates: the text model and SQLite raised tracebacks on them. File paths may hold any
    bytes (they name files as they are) and are not checked."""
    for action in parser._actions:
        value = getattr(args, action.dest, None)
        if action.dest == "catalog":  # train-vit's PATH[:GROUP] strings are paths
            continue
        for v in value if isinstance(value, list) else [value]:
            if isinstance(v, str):
                try:
                    v.encode("utf-8")
                except UnicodeEncodeError:
                    shown = v.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
                    name = action.option_strings[-1] if action.option_strings else action.dest
                    raise AppError(f"{name} “{shown}” is not UTF-8 text (a terminal or a script in another "
                                   "encoding?): give it in UTF-8.") from None


def run(argv: list[str], add_more=None) -> int:
    parser = argparse.ArgumentParser(prog="vitrina", description="Vitrina: product recommendations that show why.")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    add_commands(sub)
    from core import cli_insights, cli_vit

    cli_vit.add_commands(sub)
    cli_insights.add_commands(sub)
    if add_more:
        add_more(sub)
    args = parser.parse_args(argv)
    command = sub.choices[args.command]
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        check_text_arguments(args, command)
        return args.func(args)
    except AppError as exc:
        print(f"vitrina: {exc}", file=sys.stderr)
        return 2
    except sqlite3.DatabaseError as exc:  # a catalog damaged inside (its header is checked on opening)
        print(f"vitrina: {user_message(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:  # a full disk, a folder without permission: say which file, without a traceback
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"vitrina: {exc.strerror or exc}{where}.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("vitrina: interrupted" + ("; running the same import again goes on from where it stopped."
                                        if args.command == "import" else "."), file=sys.stderr)
        return 130
