"""Reading source files: encodings line by line, broken quotes, delimiters, JSON Lines keys."""
import json

import pytest

from core.errors import ImportFailed
from core.sources import inspect_source, preview_rows, read_rows

UTF8_ROWS = "id,title\nM1,Café crème jacket\nM2,Blouse brodée à la main\nM3,Tröja\n"


def rows_of(path):
    return [(r.line, r.data, r.error) for r in read_rows(path)[1]]


def test_a_utf8_file_with_some_windows_1252_lines_keeps_its_utf8_lines(tmp_path, caplog):
    path = tmp_path / "mixed.csv"
    path.write_bytes(UTF8_ROWS.encode() + "M4,Entrée new row\n".encode("cp1252"))
    info, rows = read_rows(path)
    assert [r.data["title"] for r in rows] == ["Café crème jacket", "Blouse brodée à la main", "Tröja",
                                               "Entrée new row"]
    assert (info.encoding, info.cp1252_lines) == ("utf-8+cp1252", (5,))
    assert [r.getMessage() for r in caplog.records] == [
        "mixed.csv: line 5 is not UTF-8; reading it as Windows-1252 and the rest as UTF-8"]
    assert preview_rows(path)[1][0].data["title"] == "Café crème jacket"


def test_a_windows_1252_file_is_one_encoding_with_no_odd_lines(tmp_path):
    path = tmp_path / "win.csv"
    path.write_bytes(UTF8_ROWS.encode("cp1252"))
    info, rows = read_rows(path)
    assert (info.encoding, info.cp1252_lines) == ("cp1252", ())
    assert [r.data["title"] for r in rows][0] == "Café crème jacket"


def test_an_unterminated_quote_skips_its_row_and_the_rows_after_it_are_read(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text('id,title,price\nQ1,one,1\nQ2,two,2\nQ3,"unterminated,3\nQ4,four,4\nQ5,five,5\n')
    rows = rows_of(path)
    assert [r[1]["id"] for r in rows if r[1]] == ["Q1", "Q2", "Q4", "Q5"]
    assert [(line, error) for line, _, error in rows if error] == [
        (4, 'has a quote (") that is never closed; the row is skipped and the lines after it are read as rows')]
    assert [line for line, data, _ in rows if data] == [2, 3, 5, 6]  # line numbers stay the file's


def test_a_quote_closed_by_a_later_row_skips_only_its_own_row(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text('id,title\nQ1,"open\nQ2,two\nQ3,"three"x\nQ4,four\n')
    rows = rows_of(path)
    assert [(line, data["id"]) for line, data, _ in rows if data] == [(3, "Q2"), (5, "Q4")]
    errors = [(line, error) for line, _, error in rows if error]
    assert [line for line, _ in errors] == [2, 4]
    assert "on line 4, inside a quote opened on line 2" in errors[0][1]


def test_a_quote_never_closed_on_the_last_line_is_named_too(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text('id,title\nQ1,one\nQ2,"two\n')
    assert rows_of(path)[1] == (3, None, 'has a quote (") that is never closed')


@pytest.mark.parametrize("name, text, delimiter", [
    ("comma.tsv", "id,title,price\nA1,x,3\n", ","),
    ("semi.tsv", "id;title;price\nA1;Hemd;12,50\nA2;Hose;9\n", ";"),
    ("real.tsv", "id\ttitle\tprice\nA1\tShirt, blue; slim\t3\n", "\t"),
    ("one-line.csv", "id;title;price\n", ";"),
])
def test_the_delimiter_is_sniffed_whatever_the_extension(tmp_path, name, text, delimiter):
    (tmp_path / name).write_text(text)
    info = inspect_source(tmp_path / name)
    assert (info.delimiter, info.columns) == (delimiter, ("id", "title", "price"))


def test_an_excel_sep_line_names_the_delimiter(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes(b"sep=;\r\nid;title;price\r\nA1;Hemd, blau;12,50\r\nA2;Hose;9\r\n")
    info, rows = read_rows(path)
    assert (info.delimiter, info.columns) == (";", ("id", "title", "price"))
    assert [(r.line, r.data["title"]) for r in rows] == [(3, "Hemd, blau"), (4, "Hose")]


def test_a_header_read_as_one_column_holding_delimiters_says_the_delimiter_looks_wrong(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("id;title;price\n" + "".join(f"{i},a,3\n" for i in range(30)))  # rows say commas, header not
    with pytest.raises(ImportFailed, match=r"p.csv: its header line reads as one column, 'id;title;price', though it "
                                           r"holds semicolons: the delimiter looks wrong \(Vitrina read the file as "
                                           r"separated by commas\)"):
        inspect_source(path)


def test_json_lines_columns_are_the_keys_of_every_line(tmp_path):
    lines = [{"id": f"S{i}", "title": f"thing {i}"} for i in range(250)]
    lines += [{"id": "S250", "title": "late", "price": 9.5, "image": "x.jpg"}]
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert inspect_source(path).columns == ("id", "title", "price", "image")
    info = read_rows(path)[0]
    assert info.columns == ("id", "title", "price", "image")
    assert dict(info.key_counts) == {"id": 251, "title": 251, "price": 1, "image": 1}


def test_json_lines_keys_beyond_the_head_are_columns_of_the_whole_file(tmp_path, monkeypatch):
    import core.sources

    monkeypatch.setattr(core.sources, "HEAD_BYTES", 200)
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps({"id": f"S{i}", "title": "t"}) + "\n" for i in range(20))
                    + json.dumps({"id": "S20", "price": 3}) + "\n")
    assert "price" not in inspect_source(path).columns  # the dialog's preview reads the head only
    assert "price" in inspect_source(path, whole=True).columns
    assert "price" in read_rows(path)[0].columns


def test_a_file_with_carriage_returns_alone_as_line_ends_is_read(tmp_path):
    path = tmp_path / "mac.csv"
    path.write_bytes(b"sku,title\r1,Cafe\r2,Creme\r")
    assert inspect_source(path).columns == ("sku", "title")
    assert rows_of(path) == [(2, {"sku": "1", "title": "Cafe"}, None), (3, {"sku": "2", "title": "Creme"}, None)]


def test_a_file_of_broken_quotes_is_not_read_again_for_ever(tmp_path):
    from core.sources import MAX_QUOTE_RECOVERIES

    path = tmp_path / "q.csv"
    path.write_text("sku,title,x\n" + "".join(f'{i}",b,"c\n' for i in range(3 * MAX_QUOTE_RECOVERIES)))
    rows = rows_of(path)  # each broken row's quote runs to the end: read again each time, it took minutes
    assert len(rows) == MAX_QUOTE_RECOVERIES + 1 and all(error for _, _, error in rows)
    assert f"lines {MAX_QUOTE_RECOVERIES + 2}-{3 * MAX_QUOTE_RECOVERIES + 1} are skipped with it" in rows[-1][2]


def test_a_damaged_utf16_file_is_refused_naming_the_line_not_read_as_windows_1252(tmp_path):
    path = tmp_path / "p.csv"
    path.write_bytes("id,title\n1,Café\n2,B\n".encode("utf-16") + "3,".encode("utf-16-le") + b"\x00\xd8"
                     + "x\n".encode("utf-16-le"))
    with pytest.raises(ImportFailed, match=r"p.csv is UTF-16 text, but line 4 holds bytes that are not UTF-16"):
        read_rows(path)
    path.write_bytes("id,title\n1,Café\n".encode("utf-16"))
    assert [r.data for r in read_rows(path)[1]] == [{"id": "1", "title": "Café"}]


def test_columns_without_a_name_are_named_by_their_place_and_keep_their_values(tmp_path):
    (tmp_path / "p.csv").write_text("id,,title,\n1,red,A,cotton\n")
    info, rows = read_rows(tmp_path / "p.csv")
    assert info.columns == ("id", "column 2", "title", "column 4")
    assert [r.data for r in rows] == [{"id": "1", "column 2": "red", "title": "A", "column 4": "cotton"}]


def test_values_nested_thousands_deep_are_a_skipped_line_not_a_traceback(tmp_path):
    deep = "[" * 3000 + "]" * 3000
    path = tmp_path / "deep.jsonl"
    path.write_text(f'{{"id": "a", "x": {deep}}}\n{{"id": "b", "title": "ok"}}\n')
    assert rows_of(path) == [(1, None, "not read: its values nest too deeply (lists or objects thousands of levels "
                                       "deep)"), (2, {"id": "b", "title": "ok"}, None)]
    array = tmp_path / "deep.json"
    array.write_text(f'[{{"id": "b", "title": "ok"}}, {{"id": "a", "x": {deep}}}, {{"id": "c"}}]')
    assert [(line, data) for line, data, _ in rows_of(array)] == [(1, {"id": "b", "title": "ok"}), (1, None)]
    array.write_text(f'[{{"id": "a", "x": {deep}}}, {{"id": "c"}}]')  # nothing readable: said why
    with pytest.raises(ImportFailed, match=r"deep.json has no JSON object lines: line 1 not read: its values nest "
                                           r"too deeply .*; the elements after it are not read\."):
        inspect_source(array)


def test_a_utf32_file_is_said_to_be_one(tmp_path):
    for encoding in ("utf-32", "utf-32-be"):
        path = tmp_path / f"{encoding}.csv"
        path.write_bytes(("\ufeff" if encoding.endswith("be") else "").encode(encoding) + "id,title\n1,a\n".encode(
            encoding))
        with pytest.raises(ImportFailed, match=f"{encoding}.csv is UTF-32 text, which Vitrina does not read"):
            inspect_source(path)
