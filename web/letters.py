"""Printable letters and forms: the letter left at an unannounced visit [003], the closure form [000].

Opened from the case page as an HTML print view or as a PDF (fpdf2, pure Python). Their text is sealed
under the case's key (worker/sealing.py) and made from it on request, never kept: erasing the case
erases every copy the engine holds.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from fpdf import FPDF

from workflows.calendar import LONDON

TITLES = {"visit_letter": "Letter left at an unannounced visit", "closure_form": "Early Help closure form"}
# A font with all of Unicode where the system has one (Debian's fonts-dejavu); else PDF's own Helvetica.
UNICODE_FONTS = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/dejavu/DejaVuSans.ttf"),
)


def title(kind: str) -> str:
    return TITLES.get(kind, kind.replace("_", " ").capitalize())


def pdf(case_id: str, kind: str, text: str, written_at: datetime) -> bytes:
    return document_pdf(title(kind), case_id, text, written_at)


def document_pdf(heading: str, case_id: str, text: str, written_at: datetime) -> bytes:
    """A4, the heading, the case and when it was written, then the text as it is (lines kept)."""
    doc = FPDF(format="A4")
    doc.set_title(f"{heading} - case {case_id}")
    doc.set_author("Early Help")
    doc.set_creation_date(written_at)
    font = next((f for f in UNICODE_FONTS if f.exists()), None)
    if font is not None:
        doc.add_font("body", fname=str(font))
        family = "body"
    else:
        family = "helvetica"
        text = text.encode("latin-1", "replace").decode("latin-1")
    doc.add_page()
    doc.set_margins(20, 20, 20)
    doc.set_font(family, size=16)
    doc.multi_cell(0, 10, heading, new_x="LMARGIN", new_y="NEXT")
    doc.set_font(family, size=9)
    doc.multi_cell(
        0, 6, f"Case {case_id} - written {written_at.astimezone(LONDON):%-d %B %Y %H:%M}", new_x="LMARGIN", new_y="NEXT"
    )
    doc.ln(4)
    doc.set_font(family, size=11)
    doc.multi_cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")
    return bytes(doc.output())
