"""Cells for CSV files people open in a spreadsheet: a text that would run as a formula (CSV injection: a
referrer agency "=HYPERLINK(...)", a name "@SUM(...)") is written with a leading apostrophe, which the
spreadsheet shows as plain text. Every CSV the project writes goes through here, every column."""

from __future__ import annotations

from typing import Any

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "|", "%")


def safe_cell(value: Any) -> Any:
    return "'" + value if isinstance(value, str) and value.startswith(_FORMULA_STARTS) else value


def safe_row(values: Any) -> Any:
    """A list's or a dict's values made safe."""
    if isinstance(values, dict):
        return {k: safe_cell(v) for k, v in values.items()}
    return [safe_cell(v) for v in values]
