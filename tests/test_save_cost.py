"""What one save asks of PostgreSQL (issue #27: the save was a quarter of the worker's time a command, each
statement a round trip): a case note's save is its transaction, its events and the case's last place, with no
read of the case's context for effects a note cannot have, and no reset of the connection after."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from activities.db import connect
from activities.store import CaseActivities
from starter.local.samples import sample_referral
from workflows import pathway
from workflows.models import AddCaseNote, Allocate, RecordScreening


async def test_a_case_notes_save_is_four_statements_and_an_escalations_reads_the_context_it_needs(database_url):
    """An allocation's save, with its two deadlines and the new stage, is seven statements."""
    pool = await connect(database_url, max_size=1)  # (one connection: the save's statements and its release's)
    statements: list[str] = []
    try:
        async with pool.acquire() as conn:
            conn.add_query_logger(lambda record: statements.append(record.query))
        received = datetime(2026, 3, 2, 10, tzinfo=UTC)
        referral = sample_referral("COST001", received)
        state, events = pathway.open_case(referral)
        events += pathway.decide(state, RecordScreening(by="das", decision="accept"), received + timedelta(hours=1))
        events += pathway.decide(state, Allocate(by="das", lead_practitioner="lp"), received + timedelta(hours=2))
        store = CaseActivities(pool)
        await store.append_events("COST001", events)
        statements.clear()
        note = pathway.decide(state, AddCaseNote(by="lp", text="rang mum"), received + timedelta(hours=3))
        await store.append_events("COST001", note)
        # BEGIN, the events, the case's last place (a note is not in the read model's tables), COMMIT
        assert len(statements) == 4, statements
        statements.clear()
        missed = pathway.tick(state, received + timedelta(days=30))
        assert "DeadlineMissed" in {e.type for e in missed}
        await store.append_events("COST001", missed)
        assert sum("CaseReferred" in s for s in statements) == 1  # the context its messages are addressed from
        assert any(s.startswith("INSERT INTO notifications") for s in statements)
        # the case's next deadline, overdue count and last place in one statement
        [case_update] = [s for s in statements if s.startswith("UPDATE cases")]
        assert "next_deadline" in case_update and "last_seq" in case_update, statements
        state, events = pathway.open_case(sample_referral("COST002", received))
        events += pathway.decide(state, RecordScreening(by="das", decision="accept"), received + timedelta(hours=1))
        await store.append_events("COST002", events)
        statements.clear()
        allocated = pathway.decide(state, Allocate(by="das", lead_practitioner="lp"), received + timedelta(hours=2))
        assert [e.type for e in allocated].count("DeadlineSet") == 2 and "StageChanged" in {e.type for e in allocated}
        await store.append_events("COST002", allocated)
        # BEGIN, the events, the lead, each deadline set (its earlier one cancelled in the same statement), the
        # stage with the next deadline and the last place, COMMIT
        assert len(statements) == 7, statements
    finally:
        await pool.close()
