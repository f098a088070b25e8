"""hebbian.io.markdown: the table shape every report uses."""

import pytest

from hebbian.io.markdown import table


def test_a_table_has_a_header_a_rule_and_one_line_per_row():
    assert table(["name", "value"], [["a", 1], ["b|c", 2.5]]).splitlines() == [
        "| name | value |",
        "|---|---|",
        "| a | 1 |",
        "| b\\|c | 2.5 |",
    ]


def test_cells_are_formatted_and_columns_aligned_as_asked():
    text = table(
        ["x", "y", "z"],
        [[0.123456, "t", 3]],
        cell=lambda v: f"{v:.2g}" if isinstance(v, float) else str(v),
        align="lrc",
    )
    assert text.splitlines()[1:] == ["|---|---:|:---:|", "| 0.12 | t | 3 |"]


def test_an_alignment_of_the_wrong_length_is_refused():
    with pytest.raises(ValueError, match="2 letters for 3 columns"):
        table(["a", "b", "c"], [], align="lr")
