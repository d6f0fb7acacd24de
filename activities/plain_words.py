"""Texts for people: the engine cites its sources ("[004]", "[000][003]", "[DOMAIN 9]") in rule messages and
in reasons it records, for the API, the CLI and the logs; pages, emails, letters and the chronology leave
them out."""

from __future__ import annotations

import re

_SOURCES = re.compile(r"\s*\[(?:\d{3}|DOMAIN \d+|DOMAIN\.md[^\]]*)\](?:\[\d{3}\])*")


def without_sources(text: str) -> str:
    return _SOURCES.sub("", text)
