"""The chronology in plain English (activities/chronology.py): what a court or a family reads, never the
engine's names."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from activities.chronology import entry
from workflows.models import Event

AT = datetime(2026, 3, 2, 9, tzinfo=UTC)


def said(type: str, **data: object) -> str:
    return entry(Event(seq=1, type=type, at=AT, by="lp-jones", data=data)).what


def test_a_home_visit_says_whether_the_children_were_seen():
    seen = said("HomeVisitRecorded", agreement_given=True, genogram_started=True, children_seen=True)
    assert seen == (
        "lp-jones made the first home visit: the family agreed to early help; genogram started; the children were seen."
    )
    assert said("HomeVisitRecorded", agreement_given=True, children_seen=False).endswith(
        "the children were not seen yet."
    )


def test_an_event_with_nothing_more_to_say_is_said_in_words_never_by_its_engine_name():
    for event_type in ("HomeVisitRecorded", "SomethingAddedLater"):
        text = said(event_type)  # (no data: an older or unknown shape)
        assert not re.search(r"[a-z][A-Z]", text), text


def test_stages_are_said_in_practitioners_words():
    from activities.effects import STAGE_NAMES
    from workflows.models import Stage

    assert set(STAGE_NAMES) == {s.value for s in Stage}  # every stage has its words
    assert said("StageChanged", to="taf_pending") == "The case moved to Team Around the Family to be held."


def test_source_codes_stay_out_of_what_people_read():
    """The engine records "[000][004]" in a step-up's reason (for the API and the logs); the chronology, the
    MASH queue's reason and the MASH email leave it out."""
    from activities.effects import MashReferral, Notification, effects_of

    reason = "immediate safeguarding identified at referral [000][004]"
    assert "[0" not in said("SteppedUp", reason=reason)
    event = Event(seq=5, type="SteppedUp", at=AT, by="das", data={"reason": reason})
    made = effects_of("C1", event, {"locality": "North", "route": "referral"}, None)
    texts = [e.reason for e in made if isinstance(e, MashReferral)] + [
        e.body for e in made if isinstance(e, Notification)
    ]
    assert texts and not any("[0" in t for t in texts)


def test_every_event_the_workflows_record_has_its_own_words():
    """A new event (the family record's, supervision's) is said in practitioners' words, never by its name."""
    import re
    from pathlib import Path

    from activities.chronology import SAYS

    emitted: set[str] = set()
    for source in (Path(__file__).parent.parent / "workflows").glob("*.py"):
        emitted |= set(re.findall(r'emit\(\s*"(\w+)"', source.read_text()))
    assert {"PersonDetailsRecorded", "FamilyMemberAdded", "SupervisionRecorded"} <= emitted
    assert emitted - set(SAYS) == set()
