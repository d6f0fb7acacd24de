"""What a save writes beside its events (activities/effects.py): the events that may have effects are read from
`effects_of`'s own cases, so a case it gains is never left off (a save of none of them skips the case's context)."""

from __future__ import annotations

from activities import effects


def test_the_events_that_may_have_effects_are_read_from_effects_ofs_own_cases():
    assert {"DeadlineMissed", "ScreeningRecorded", "ClosureDecided", "SafeguardingConcernRaised"} <= (
        effects.MAY_HAVE_EFFECTS
    )
    assert not {"CaseNoteAdded", "SupervisionRecorded", "StageChanged"} & effects.MAY_HAVE_EFFECTS


def test_a_case_added_to_a_match_is_read_with_its_guards_and_alternatives():
    """How the list is read: a guarded case, an `|` of types and a wildcard (which names no type)."""

    def answers(event_type: str, flag: bool) -> int:
        match event_type:
            case "A" if flag:
                return 1
            case "B" | "C":
                return 2
            case _:
                return 0

    assert effects._answered(answers) == {"A", "B", "C"}
