"""Every CSV the project writes is formula-safe in every column (activities/spreadsheet.py)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from activities.chronology import Entry, as_csv
from activities.spreadsheet import safe_row

HOSTILE = ['=HYPERLINK("http://evil.example","click")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "|calc", "%0A"]


def test_a_hostile_who_or_what_in_the_chronology_export_runs_as_no_formula():
    entries = [
        Entry(seq=n, at=datetime(2026, 3, 2, 9, tzinfo=UTC), who=text, what=text, significant=True)
        for n, text in enumerate(HOSTILE, start=1)
    ]
    rows = list(csv.reader(io.StringIO(as_csv("C1", entries))))[1:]
    assert [(r[3], r[4]) for r in rows] == [("'" + t, "'" + t) for t in HOSTILE]


def test_numbers_dates_and_plain_text_are_left_as_they_are():
    row = {"n": -3, "when": "2026-03-02", "who": "lp-jones", "none": None}
    assert safe_row(row) == row
