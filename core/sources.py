"""Reading catalog source files (CSV or JSON Lines) row by row, never failing on one bad line.

Each row comes back as a :class:`RawRow` with its 1-based line number and either a dict of
strings or an error that says what is wrong with that line. Only problems with the whole file
(missing, unreadable, not text, no header) raise :class:`ImportFailed`.
"""
from __future__ import annotations

import csv
import io
import itertools
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from core.errors import ImportFailed

log = logging.getLogger(__name__)

csv.field_size_limit(1 << 24)  # long descriptions are fine; a 16 MB field is not a product
MAX_SOURCE_BYTES = 2 << 30
HEAD_BYTES = 1 << 20  # what is read to inspect a file and preview it


@dataclass(frozen=True)
class RawRow:
    line: int
    data: dict[str, str] | None
    error: str | None = None


@dataclass(frozen=True)
class SourceInfo:
    path: Path
    kind: str  # "csv" or "jsonl"
    columns: tuple[str, ...]
    encoding: str
    delimiter: str | None


def source_kind(path: Path) -> str:
    if path.is_dir():
        raise ImportFailed(f"{path} is a folder: give the products file itself, a .csv, .tsv or .jsonl file.")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix in (".csv", ".tsv", ".txt"):
        return "csv"
    kind = f"unsupported file type '{suffix}'" if suffix else "no file type (extension)"
    raise ImportFailed(f"{path.name}: {kind}. Use a .csv, .tsv or .jsonl file.")


_WARNED_CP1252: set[tuple[str, int, int]] = set()


def _read_text(path: Path, head: bool = False) -> tuple[str, str]:
    """The file's text and encoding; ``head``: only its first HEAD_BYTES, up to the last whole line (what the
    header, the delimiter and a preview need, without reading a file of a gigabyte)."""
    if not path.is_file():
        raise ImportFailed(f"{path} does not exist or is not a file.")
    if path.stat().st_size > MAX_SOURCE_BYTES:
        raise ImportFailed(f"{path.name} is larger than 2 GB; split it into several files.")
    try:
        if head:
            with path.open("rb") as f:
                raw = _whole_lines(f.read(HEAD_BYTES + 1))
        else:
            raw = path.read_bytes()
    except OSError as exc:  # no permission to read it, a file on a disconnected drive
        raise ImportFailed(f"{path.name} cannot be read ({exc.strerror or exc}).") from exc
    if b"\x00" in raw[:4096] and not raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ImportFailed(f"{path.name} looks like a binary file, not CSV or JSON Lines text.")
    encodings = ("utf-16",) if raw.startswith((b"\xff\xfe", b"\xfe\xff")) else ("utf-8-sig",)
    for encoding in encodings:
        try:
            return raw.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    # Spreadsheet exports on Windows are often cp1252; every byte decodes, so say what we assumed (once per
    # version of the file: an import reads it to inspect, count and read its rows).
    key = (str(path.resolve()), path.stat().st_mtime_ns)
    if key not in _WARNED_CP1252:
        _WARNED_CP1252.add(key)
        log.warning("%s is not UTF-8; reading it as Windows-1252", path.name)
    return raw.decode("cp1252", errors="replace"), "cp1252"


def _whole_lines(raw: bytes) -> bytes:
    """``raw`` (HEAD_BYTES + 1 read) cut after its last whole line when the file goes on (UTF-16 two bytes a unit)."""
    if len(raw) <= HEAD_BYTES:
        return raw
    raw = raw[:HEAD_BYTES]
    if raw.startswith(b"\xff\xfe"):
        end = raw.rfind(b"\n\x00") + 2
    elif raw.startswith(b"\xfe\xff"):
        end = raw.rfind(b"\x00\n") + 2
    else:
        end = raw.rfind(b"\n") + 1
    return raw[:end] if end > 1 else raw


def inspect_source(path: str | Path) -> SourceInfo:
    """Columns, encoding and delimiter of a source file (for the mapping step and the wizard), from its head."""
    path = Path(path)
    kind = source_kind(path)
    text, encoding = _read_text(path, head=True)
    if kind == "csv":
        delimiter = _sniff_delimiter(text, path)
        header = next(csv.reader(io.StringIO(text), delimiter=delimiter), None)
        if not header or not any(h.strip() for h in header):
            raise ImportFailed(f"{path.name} has no header line naming its columns.")
        columns = tuple(h.strip() for h in header)
        first: dict[str, int] = {}
        for number, column in enumerate(columns, 1):  # a row is a dict by column name: one value would be lost
            if column in first:
                raise ImportFailed(f"{path.name} has two columns named '{column}' (columns {first[column]} and "
                                   f"{number}); rename one of them.")
            if column:
                first[column] = number
        return SourceInfo(path, kind, columns, encoding, delimiter)
    columns: dict[str, None] = {}
    for row in _jsonl_rows(text):
        if row.data:
            columns.update(dict.fromkeys(row.data))
        if len(columns) and row.line > 200:
            break
    if not columns:
        raise ImportFailed(f"{path.name} has no JSON object lines.")
    return SourceInfo(path, kind, tuple(columns), encoding, None)


def _sniff_delimiter(text: str, path: Path) -> str:
    if path.suffix.lower() == ".tsv":
        return "\t"
    try:
        return csv.Sniffer().sniff(text[:8192], delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def read_rows(path: str | Path) -> tuple[SourceInfo, Iterator[RawRow]]:
    """The file's description and an iterator over its rows (header excluded)."""
    path = Path(path)
    info = inspect_source(path)
    text, _ = _read_text(path)
    rows = _csv_rows(text, info) if info.kind == "csv" else _jsonl_rows(text)
    return info, rows


def preview_rows(path: str | Path, n: int = 30) -> tuple[SourceInfo, list[RawRow]]:
    """The file's description and its first ``n`` rows, read from its head only (the import dialog's preview)."""
    path = Path(path)
    info = inspect_source(path)
    text, _ = _read_text(path, head=True)
    rows = _csv_rows(text, info) if info.kind == "csv" else _jsonl_rows(text)
    return info, list(itertools.islice(rows, n))


def count_rows(path: str | Path) -> int:
    """Cheap upper bound of the number of data rows, for progress bars."""
    with open(path, "rb") as f:
        n = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    return max(n - (1 if source_kind(Path(path)) == "csv" else 0), 0) + 1


def _csv_rows(text: str, info: SourceInfo) -> Iterator[RawRow]:
    header = info.columns
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=info.delimiter or ",", strict=True)
    first = True
    while True:
        line = reader.line_num + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield RawRow(line, None, f"malformed CSV line: {exc}")
            continue
        if first:
            first = False
            continue
        if not values or all(not v.strip() for v in values):
            continue
        if len(values) != len(header):
            yield RawRow(line, None, f"has {len(values)} fields but the header has {len(header)}")
            continue
        yield RawRow(line, {h: v.strip() for h, v in zip(header, values)})


def _jsonl_rows(text: str) -> Iterator[RawRow]:
    # lines end at "\n" only (str.splitlines also breaks at U+2028, U+0085..., which JSON strings may hold)
    for n, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield RawRow(n, None, f"not valid JSON ({exc.msg})")
            continue
        if not isinstance(obj, dict):
            yield RawRow(n, None, "is not a JSON object")
            continue
        yield RawRow(n, {str(k): _json_value(v) for k, v in obj.items()})


def _json_value(v) -> str:
    if v is None:
        return ""
    if isinstance(v, (list, dict)):
        return json.dumps(v, ensure_ascii=False)
    return str(v).strip()
