"""Results tables: the text form for the command line, the HTML form for the book."""
import re

import pytest

from rmm_lib.reporting import Table, format_table, leading_number, show_table

ROWS = {"A": {"x": "62.1 [60.3, 63.9]", "mae": "0.50 [0.45, 0.55]"},
        "B": {"x": "63.0 [61.0, 65.0]", "mae": "0.40 [0.35, 0.45]"},
        "C": {"x": "55.0 [50.0, 60.0]"},
        "limit": {"x": "70.0 [69.0, 71.0]", "mae": "0.30"}}


def _cells(html, cls):
    """The (row, column text) of every cell whose class list holds ``cls``."""
    return re.findall(rf'<td class="data (row\d+) col\d+[^"]*\b{cls}\b[^"]*" >(.*?)</td>', html)


def test_leading_number_reads_a_cells_mean():
    assert leading_number("62.1 [60.3, 63.9]") == 62.1
    assert leading_number("+4.3 [+1.6, +7.0] +") == 4.3
    assert leading_number("\u22122.7") == -2.7 and leading_number("23,814") == 23814
    assert leading_number(0.5) == 0.5 and leading_number("Late fusion 85.0") is None and leading_number(None) is None


def test_the_best_value_per_column_is_marked_and_the_limit_and_paper_never_are():
    table = Table(ROWS, paper={"A": {"x": 99.0, "mae": 0.01}}, best={"x": "max", "mae": "min"})
    assert table.best_cells() == {("B", "x"), ("B", "mae")}
    html = table.html()
    best = _cells(html, "rmm-best")
    assert len(best) == 2 and all(row == "row1" for row, _ in best)  # B is the second row
    assert "63.0" in best[0][1] and "0.40" in best[1][1]
    assert "tbody tr:nth-child(5) > *" in html  # a rule above the first of the paper's rows (after A, B, C, limit)
    # a rule the other way round marks the other end
    assert Table(ROWS, best="min").best_cells() == {("C", "x"), ("B", "mae")}
    assert Table(ROWS, best=None).best_cells() == set()


def test_ties_are_all_marked():
    rows = {"a": {"x": "1.0 [0.5, 1.5]"}, "b": {"x": "1.0 [0.9, 1.1]"}, "c": {"x": "0.5"}}
    assert Table(rows).best_cells() == {("a", "x"), ("b", "x")}


def test_intervals_go_under_the_value():
    html = Table({"a": {"x": "+4.3 [+1.6, +7.0] (real: higher)"}}).html()
    assert ('<span class="rmm-value">+4.3</span><span class="rmm-ci">[+1.6, +7.0]</span>'
            '<span class="rmm-rest">(real: higher)</span>') in html


def test_a_wide_table_is_split_into_parts_that_each_fit():
    rows = {f"method {i}": {f"column {j}": f"{i + j}.0 [{i}.0, {j}.0]" for j in range(9)} for i in range(4)}
    table = Table(rows, max_columns=4)
    parts = table.parts()
    assert len(parts) == 3 and all(len(cols) <= 4 for _, cols in parts)
    assert [c for _, cols in parts for c in cols] == [f"column {j}" for j in range(9)]
    html = table.html()
    assert html.count("<table") == 3 and html.count("method 3") == 3  # each part repeats the row names
    # named groups, and a function from a column to its group
    grouped = Table(rows, groups=lambda c: "low" if int(c[-1]) < 5 else "high").parts()
    assert [name for name, _ in grouped] == ["low", "high"] and len(grouped[0][1]) == 5
    with pytest.raises(ValueError):
        Table(rows, groups={"some": ["column 0"]}).parts()  # every column exactly once


def test_a_transposed_table_keeps_the_marks_of_its_columns():
    table = Table(ROWS, best={"x": "max", "mae": "min"}, transpose=True)
    html = table.html()
    assert html.count("<table") == 1
    assert len(_cells(html, "rmm-best")) == 2


def test_the_text_form_is_format_tables_and_stable():
    table = Table(ROWS, paper={"A": {"x": 99.0}}, title="T")
    assert repr(table) == str(table) == format_table(ROWS, {"A": {"x": 99.0}}, "T")
    assert "0x" not in repr(table)  # no memory address: nbval compares it
    assert Table(ROWS).html() == Table(ROWS).html()  # the same table, the same HTML (ids included)
    assert Table(ROWS).html() != Table({**ROWS, "D": {"x": "1.0"}}).html()


def test_mark_picks_cells_beyond_the_best():
    rows = {"a": {"m": "+1.0 [+0.2, +2.0] +"}, "b": {"m": "-1.0 [-2.0, -0.1] -"}}
    table = Table(rows, best=None, mark=lambda v: v.endswith(" +"), mark_note="a real gain")
    assert table.marked_cells() == {("a", "m")} and "a real gain" in table.html()


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        Table(ROWS, best={"nope": "max"})
    with pytest.raises(ValueError):
        Table(ROWS, best="biggest")
    with pytest.raises(ValueError):
        Table(ROWS, contenders=["Z"])
    with pytest.raises(ValueError):
        Table({})


def test_show_table_prints_the_text_outside_ipython(capsys):
    assert show_table(ROWS, title="T") is None
    assert capsys.readouterr().out.strip() == format_table(ROWS, title="T")
