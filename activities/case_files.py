"""Files kept on a case: checked by what they hold (not by their names), sealed under the case's key, and
destroyed with it. The case's `record_document` event records each one (its id, kind, name and SHA-256)."""

from __future__ import annotations

import hashlib
import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass

import asyncpg

from worker.sealing import Sealer

MAX_BYTES = 10 * 1024 * 1024  # 10 MB a file by default
# What a file must begin with to be taken, and what it is then served as.
KINDS_OF_CONTENT = (
    (b"%PDF-", "application/pdf", "a PDF"),
    (b"\x89PNG\r\n\x1a\n", "image/png", "a PNG image"),
    (b"\xff\xd8\xff", "image/jpeg", "a JPEG image"),
    (b"PK\x03\x04", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "a Word document"),
)
TAKEN = "PDF, PNG or JPEG images, or Word documents (.docx)"


class FileRefused(Exception):
    """Why a file is not kept, in words for the person who sent it."""


@dataclass(frozen=True)
class Checked:
    content: bytes
    content_type: str
    filename: str
    sha256: str


def safe_name(name: str) -> str:
    """A file's name as it may be kept and shown: no folders, control characters or leading dots."""
    base = re.split(r"[\\/]", name)[-1]
    base = "".join(c for c in unicodedata.normalize("NFC", base) if unicodedata.category(c)[0] != "C")
    base = base.strip().lstrip(".")[:200]
    return base or "document"


def check(content: bytes, filename: str) -> Checked:
    """The file if it may be kept: within the size, and a PDF, image or Word document by its content."""
    if not content:
        raise FileRefused("the file is empty")
    if len(content) > MAX_BYTES:
        raise FileRefused(f"the file is {len(content) / 1_048_576:.1f} MB; at most {MAX_BYTES // 1_048_576} MB")
    for magic, content_type, _ in KINDS_OF_CONTENT:
        if content.startswith(magic):
            if magic.startswith(b"PK") and not _word(content):
                break
            return Checked(content, content_type, safe_name(filename), hashlib.sha256(content).hexdigest())
    raise FileRefused(f"the file is not one of {TAKEN} (judged by what it holds, not its name)")


def _word(content: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as z:
            return "word/document.xml" in z.namelist()
    except zipfile.BadZipFile:
        return False


async def keep(conn: asyncpg.Connection, case_id: str, document_id: str, file: Checked, sealer: Sealer) -> None:
    await conn.execute(
        "INSERT INTO case_files (case_id, document_id, content_type, size, sealed) VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT DO NOTHING",  # the same form sent twice: one file, one record_document
        case_id,
        document_id,
        file.content_type,
        len(file.content),
        await sealer.seal_bytes(case_id, file.content),
    )


async def forget(conn: asyncpg.Connection, case_id: str, document_id: str) -> None:
    await conn.execute("DELETE FROM case_files WHERE case_id = $1 AND document_id = $2", case_id, document_id)


async def opened(conn: asyncpg.Connection, case_id: str, document_id: str, sealer: Sealer) -> tuple[bytes, str] | None:
    """The file's content and type, or None if no such file is kept."""
    row = await conn.fetchrow(
        "SELECT content_type, sealed FROM case_files WHERE case_id = $1 AND document_id = $2", case_id, document_id
    )
    if row is None:
        return None
    return await sealer.open_bytes(case_id, bytes(row["sealed"])), row["content_type"]
