"""Reading catalog source files (CSV or JSON Lines) row by row, never failing on one bad line.

Each row comes back as a :class:`RawRow` with its 1-based line number and either a dict of
strings or an error that says what is wrong with that line. Only problems with the whole file
(missing, unreadable, not text, no header) raise :class:`ImportFailed`.
"""
from __future__ import annotations

import codecs
import csv
import io
import itertools
import json
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
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
    header_line: int = 1  # 2 below an Excel "sep=;" line
    cp1252_lines: tuple[int, ...] = ()  # lines read as Windows-1252 in a file otherwise UTF-8
    key_counts: Mapping[str, int] = field(default_factory=dict, compare=False)  # JSON Lines: lines with each key


def source_kind(path: Path) -> str:
    if path.is_dir():
        raise ImportFailed(f"{path} is a folder: give the file itself, a .csv, .tsv or .jsonl file.")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix in (".csv", ".tsv", ".txt"):
        return "csv"
    kind = f"unsupported file type '{suffix}'" if suffix else "no file type (extension)"
    raise ImportFailed(f"{path.name}: {kind}. Use a .csv, .tsv or .jsonl file.")


_WARNED_CP1252: set[tuple[str, int, int]] = set()


def _read_text(path: Path, head: bool = False) -> tuple[str, str, tuple[int, ...]]:
    """The file's text, its encoding and the lines read as Windows-1252 in a file otherwise UTF-8; ``head``: only
    its first HEAD_BYTES, up to the last whole line (what the header, the delimiter and a preview need, without
    reading a file of a gigabyte)."""
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
    if raw.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):  # its BOM begins as UTF-16's: read as such,
        # every column name came out full of NUL characters
        raise ImportFailed(f"{path.name} is UTF-32 text, which Vitrina does not read: save it as UTF-8 (or UTF-16).")
    if b"\x00" in raw[:4096] and not raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ImportFailed(f"{path.name} looks like a binary file, not CSV or JSON Lines text.")
    encoding = "utf-16" if raw.startswith((b"\xff\xfe", b"\xfe\xff")) else "utf-8-sig"
    try:
        return raw.decode(encoding), encoding, ()
    except UnicodeDecodeError:
        pass
    if encoding == "utf-16":  # damaged: read as Windows-1252, every column name came out as "ÿþi\x00d\x00"
        text = raw.decode(encoding, errors="replace")
        bad = [n for n, line in enumerate(text.split("\n"), start=1) if "\ufffd" in line]
        raise ImportFailed(f"{path.name} is UTF-16 text, but {_line_list(bad)} hold{'s' if len(bad) == 1 else ''} "
                           "bytes that are not UTF-16 (the file is damaged). Save it again from the program that "
                           "made it, as UTF-8 or UTF-16.")
    text, odd, utf8 = _decode_lines(raw.removeprefix(codecs.BOM_UTF8))
    # Spreadsheet exports on Windows are often cp1252; every byte decodes, so say what we assumed (once per
    # version of the file: an import reads it to inspect, count and read its rows). A file that is UTF-8 but for
    # a few lines (a row pasted from another file) keeps its UTF-8 lines as they are.
    key = (str(path.resolve()), path.stat().st_mtime_ns)
    if key not in _WARNED_CP1252:
        _WARNED_CP1252.add(key)
        if utf8:
            log.warning("%s: %s not UTF-8; reading %s as Windows-1252 and the rest as UTF-8", path.name,
                        _line_list(odd) + (" is" if len(odd) == 1 else " are"), "it" if len(odd) == 1 else "them")
        else:
            log.warning("%s is not UTF-8; reading it as Windows-1252", path.name)
    return (text, "utf-8+cp1252", tuple(odd)) if utf8 else (text, "cp1252", ())


def _decode_lines(raw: bytes) -> tuple[str, list[int], bool]:
    """``raw`` decoded line by line: UTF-8 where a line is valid UTF-8, else Windows-1252; also the numbers of the
    Windows-1252 lines and whether any line needed UTF-8 (else the whole file reads the same as Windows-1252)."""
    lines, odd, utf8 = raw.split(b"\n"), [], False
    for i, line in enumerate(lines):
        try:
            lines[i] = line.decode("utf-8")
            utf8 = utf8 or not line.isascii()
        except UnicodeDecodeError:
            lines[i] = line.decode("cp1252", errors="replace")
            odd.append(i + 1)
    return "\n".join(lines), odd, utf8


def _line_list(numbers: Sequence[int], most: int = 10) -> str:
    """'line 4', 'lines 4, 9 and 12', 'lines 4, 9, ... and 40 more': line numbers for a message."""
    shown = [str(n) for n in numbers[:most]]
    if len(numbers) == 1:
        return f"line {shown[0]}"
    rest = f"{len(numbers) - most} more" if len(numbers) > most else shown.pop()
    return f"lines {', '.join(shown)} and {rest}"


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


def inspect_source(path: str | Path, whole: bool = False) -> SourceInfo:
    """Columns, encoding and delimiter of a source file (for the mapping step and the wizard), from its head;
    ``whole``: the keys of every line of a JSON Lines file, not only of its head (what an import checks its
    mapping against)."""
    path = Path(path)
    kind = source_kind(path)
    return _describe(path, kind, *_read_text(path, head=not (whole and kind == "jsonl")))


def _describe(path: Path, kind: str, text: str, encoding: str, cp1252_lines: tuple[int, ...],
              rows: list[RawRow] | None = None) -> SourceInfo:
    """``rows``: a JSON Lines file's rows when the caller has parsed them already (not parsed twice)."""
    if kind == "jsonl":
        counts: dict[str, int] = {}  # every line's keys (one first seen on line 5,000 is a column too)
        first_error = None
        for row in _jsonl_rows(text) if rows is None else rows:
            for key in row.data or ():
                counts[key] = counts.get(key, 0) + 1
            if row.error and first_error is None:
                first_error = row
        if not counts:  # why, when a line says it (a first element nested too deeply ends an array's rows)
            raise ImportFailed(f"{path.name} has no JSON object lines" + (
                f": line {first_error.line} {first_error.error}." if first_error is not None else "."))
        return SourceInfo(path, kind, tuple(counts), encoding, None, 1, cp1252_lines, counts)
    head = text[:HEAD_BYTES]
    sep = _SEP_LINE.match(head)  # Excel's "sep=;" line names the delimiter, and the header comes next
    if sep:
        head = head[sep.end():]
    delimiter = sep.group(1) if sep else _sniff_delimiter(head, path)
    try:
        header = next(csv.reader(io.StringIO(head, newline=""), delimiter=delimiter), None)  # as the rows: \r ends one
    except csv.Error as exc:  # e.g. a carriage return alone inside the header line
        why = "it holds a line break inside a column name" if "new-line" in str(exc) else str(exc)
        raise ImportFailed(f"{path.name}: its header line cannot be split into columns ({why}). Open the file in a "
                           "spreadsheet and save it again as CSV.") from None
    if not header or not any(h.strip() for h in header):
        raise ImportFailed(f"{path.name} has no header line naming its columns.")
    # a column without a name is named by its place: under "" two such columns overwrote each other's values
    columns = tuple(h.strip() or f"column {n}" for n, h in enumerate(header, 1))
    held = [name for d, name in _DELIMITERS.items() if d != delimiter and d in columns[0]]
    if len(columns) == 1 and held:
        raise ImportFailed(f"{path.name}: its header line reads as one column, '{columns[0][:60]}', though it holds "
                           f"{held[0]}: the delimiter looks wrong (Vitrina read the file as separated by "
                           f"{_DELIMITERS.get(delimiter, repr(delimiter))}). Save it again as comma-, semicolon- "
                           "or tab-separated text.")
    first: dict[str, int] = {}
    for number, column in enumerate(columns, 1):  # a row is a dict by column name: one value would be lost
        if column in first:
            raise ImportFailed(f"{path.name} has two columns named '{column}' (columns {first[column]} and "
                               f"{number}); rename one of them.")
        first[column] = number
    return SourceInfo(path, kind, columns, encoding, delimiter, 2 if sep else 1, cp1252_lines)


_DELIMITERS = {",": "commas", ";": "semicolons", "\t": "tabs", "|": "vertical bars"}
_SEP_LINE = re.compile(r'"?sep=(.)"?\r?(?:\n|$)')


def _sniff_delimiter(text: str, path: Path) -> str:
    """The delimiter the file's head shows. The extension is only a hint: a .tsv whose header holds tabs is
    tab-separated, a .tsv saved with commas is not."""
    line = text.split("\n", 1)[0]
    tsv = path.suffix.lower() == ".tsv"
    if tsv and "\t" in line:
        return "\t"
    try:
        return csv.Sniffer().sniff(text[:8192], delimiters="".join(_DELIMITERS)).delimiter
    except csv.Error:  # too few lines to tell: the candidate the header holds most of
        best = max(_DELIMITERS, key=line.count)
        return best if best in line else "\t" if tsv else ","


def read_rows(path: str | Path) -> tuple[SourceInfo, Iterator[RawRow]]:
    """The file's description (a JSON Lines file's columns: the keys of all its lines) and an iterator over its
    rows (header excluded)."""
    path = Path(path)
    kind = source_kind(path)
    text, encoding, cp1252_lines = _read_text(path)
    if kind == "jsonl":  # its columns are the keys of every line: parsed once for both
        parsed = list(_jsonl_rows(text))
        return _describe(path, kind, text, encoding, cp1252_lines, parsed), iter(parsed)
    info = _describe(path, kind, text, encoding, cp1252_lines)
    return info, _csv_rows(text, info)


def preview_rows(path: str | Path, n: int = 30) -> tuple[SourceInfo, list[RawRow]]:
    """The file's description and its first ``n`` rows, read from its head only (the import dialog's preview)."""
    path = Path(path)
    kind = source_kind(path)
    text, encoding, cp1252_lines = _read_text(path, head=True)
    info = _describe(path, kind, text, encoding, cp1252_lines)
    rows = _csv_rows(text, info) if info.kind == "csv" else _jsonl_rows(text)
    return info, list(itertools.islice(rows, n))


def count_rows(path: str | Path) -> int:
    """Cheap upper bound of the number of data rows, for progress bars."""
    with open(path, "rb") as f:
        array = f.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"[")  # a JSON array: one line, many rows
        f.seek(0)
        mark = b"{" if array else b"\n"
        n = sum(chunk.count(mark) for chunk in iter(lambda: f.read(1 << 20), b""))
    return max(n - (1 if source_kind(Path(path)) == "csv" else 0), 0) + 1


MAX_QUOTE_RECOVERIES = 100  # rows with a broken quote after which the lines it took are no longer read again


def _csv_rows(text: str, info: SourceInfo) -> Iterator[RawRow]:
    """The data rows. A row whose quote runs on past its line (never closed, or closed by a quote of a later row)
    is skipped with that reason, and reading goes on at the line after its first: the rows it swallowed are read
    (or reported) one by one instead of vanishing with it."""
    header = info.columns
    buf = io.StringIO(text, newline="")
    for _ in range(info.header_line - 1):  # Excel's "sep=;" line
        buf.readline()
    base = info.header_line - 1  # lines before the reader's first

    def reader_from_here():
        return csv.reader(buf, delimiter=info.delimiter or ",", strict=True)

    reader = reader_from_here()
    first, recoveries = True, 0
    while True:
        line, start = base + reader.line_num + 1, buf.tell()
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            end = base + reader.line_num
            unclosed = str(exc) == "unexpected end of data"
            problem = ('has a quote (") that is never closed' if unclosed else
                       f"malformed CSV line: {exc}" + (f" (on line {end}, inside a quote opened on line {line})"
                                                       if end > line else ""))
            if end > line and recoveries < MAX_QUOTE_RECOVERIES:  # read the lines the quote took again, as rows
                recoveries += 1
                buf.seek(start)
                buf.readline()
                base, reader = line, reader_from_here()
                problem += "; the row is skipped and the lines after it are read as rows"
            elif end > line:  # each reading again can run to the end of the file: not for ever (a file of them)
                problem += (f"; lines {line}-{end} are skipped with it (over {MAX_QUOTE_RECOVERIES} rows of this file "
                            "have broken quotes: fix its quoting and import it again)")
            yield RawRow(line, None, problem)
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
    """One row per line; a file that is one JSON array of objects (a ".json" export, pretty-printed or not: read
    line by line, only its last element came through, the others "not valid JSON") one row per element."""
    if text.lstrip().startswith("["):
        yield from _json_array_rows(text)
        return
    # lines end at "\n" only (str.splitlines also breaks at U+2028, U+0085..., which JSON strings may hold)
    for n, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield RawRow(n, None, f"not valid JSON ({exc.msg})")
            continue
        except RecursionError:  # a traceback, and the import stopped
            yield RawRow(n, None, TOO_DEEP)
            continue
        yield _object_row(n, obj)


TOO_DEEP = "not read: its values nest too deeply (lists or objects thousands of levels deep)"


def _object_row(line: int, obj) -> RawRow:
    if not isinstance(obj, dict):
        return RawRow(line, None, "is not a JSON object")
    try:
        return RawRow(line, {str(k): _json_value(v) for k, v in obj.items()})
    except RecursionError:  # a value read, too deep to be written back as text
        return RawRow(line, None, TOO_DEEP)


def _json_array_rows(text: str) -> Iterator[RawRow]:
    """The elements of a JSON array, each numbered by the line it starts on. Past an element that is not valid
    JSON nothing can be told apart: that one error row ends the rows (a preview's head, cut inside an element,
    ends so too; the import reads the whole file)."""
    decoder, pos, line, counted = json.JSONDecoder(), text.index("[") + 1, 1, 0
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":  # a stray or trailing comma is no element
            pos += 1
        if pos >= len(text) or text[pos] == "]":
            return
        line += text.count("\n", counted, pos)
        counted = pos
        try:
            obj, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            yield RawRow(line, None, f"not valid JSON ({exc.msg}); the elements after it are not read")
            return
        except RecursionError:  # where it ends cannot be told either
            yield RawRow(line, None, f"{TOO_DEEP}; the elements after it are not read")
            return
        yield _object_row(line, obj)


def _json_value(v) -> str:
    if v is None:
        return ""
    if isinstance(v, (list, dict)):
        return json.dumps(v, ensure_ascii=False)
    return str(v).strip()
