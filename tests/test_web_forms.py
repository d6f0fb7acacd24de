"""The web app's pure parts: forms from the command models, errors placed at their fields, people and teams."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from multidict import MultiDict
from pydantic import ValidationError
from typer.testing import CliRunner

from starter.cli import app
from web import forms
from web.auth import Throttle, User, check_password, safe_next
from worker.authz import Roles, hash_password, password_matches
from worker.config import ConfigError
from workflows.models import NeedCode, RecordConsent, RecordTaf
from workflows.pathway import STEPS

ROOT = Path(__file__).resolve().parents[1]
NEEDS = [NeedCode.education, NeedCode.housing]


def test_every_command_has_a_form_with_every_field_but_who_acts():
    for model in STEPS:
        names = {w.name.split(".")[0] for w in forms.fields_of(model, NEEDS)}
        assert names == set(model.model_fields) - {"by"}, model.__name__


def test_a_submitted_taf_form_becomes_the_command_with_uk_times_and_a_row_per_need():
    widgets = forms.fields_of(RecordTaf, NEEDS)
    form = MultiDict(
        {
            "held_at": "2026-07-01T10:00",
            "attendees": "parent\n school \n",
            "review_date": "2026-09-20",
            "actions.education.action": "attendance plan",
            "actions.education.owner": "school",
            "actions.education.due": "2026-08-01",
        }
    )
    command = RecordTaf.model_validate(forms.payload(widgets, form, "lp-1"))
    assert command.by == "lp-1" and command.attendees == ["parent", "school"]
    assert command.held_at == datetime(2026, 7, 1, 9, 0, tzinfo=UTC)  # 10:00 British Summer Time
    assert [a.need_code for a in command.actions] == [NeedCode.education]  # the empty housing row is left out


def test_a_row_left_half_filled_is_named_at_its_need_and_field():
    widgets = forms.fields_of(RecordTaf, NEEDS)
    form = MultiDict({"actions.housing.action": "bidding support"})
    data = forms.payload(widgets, form, "lp-1")
    with pytest.raises(ValidationError) as e:
        RecordTaf.model_validate(data)
    errors = forms.validation_errors(e.value, widgets, data)
    assert errors["actions.housing.owner"] == "Field required" and "held_at" in errors


def test_who_acts_is_the_signed_in_person_even_inside_a_consent():
    widgets = forms.fields_of(RecordConsent, [])
    command = RecordConsent.model_validate(
        forms.payload(widgets, MultiDict({"consent.given": "on", "by": "x"}), "lp-1")
    )
    assert command.by == "lp-1" and command.consent.recorded_by == "lp-1" and command.consent.given


def test_each_rule_placed_at_a_field_is_a_rule_of_the_pathway():
    """RULE_FIELDS names only rules the engine raises (workflows/rules.py, pathway.py, record.py)."""
    source = "".join((ROOT / "workflows" / f).read_text() for f in ("rules.py", "pathway.py", "record.py"))
    raised = set(re.findall(r'RuleBroken\(\s*"(\w+)"', source))
    assert set(forms.RULE_FIELDS) <= raised
    widgets = forms.fields_of(RecordTaf, NEEDS)
    assert forms.rule_error("every_need_has_an_action", "m", widgets) == {"actions": "M"}
    assert forms.rule_error("wrong_stage", "m", widgets) == {forms.FORM_ERROR: "M"}


def test_roles_file_gives_teams_and_passwords(tmp_path: Path):
    """A person sees their teams' localities; screeners (EH Duty and Advice) see all [000]."""
    path = tmp_path / "roles.toml"
    path.write_text(
        f'managers = ["tm-1"]\nscreeners = ["das-1"]\npractitioners = ["lp-1"]\n'
        f'[teams]\nNorth = ["tm-1", "lp-1"]\nSouth = ["tm-1"]\n'
        f'[passwords]\n"lp-1" = "{hash_password("sesame sesame")}"\n'
    )
    roles = Roles.load(path)
    assert roles.localities("tm-1") == {"North", "South"} and roles.localities("lp-1") == {"North"}
    assert roles.localities("das-1") is None
    assert check_password(roles, "lp-1", "sesame sesame")
    assert not check_password(roles, "lp-1", "sesame") and not check_password(roles, "tm-1", "sesame sesame")
    lp = User("lp-1", roles.people["lp-1"], roles.localities("lp-1"))
    assert lp.sees("North", None) and not lp.sees("South", None) and lp.sees("South", "lp-1")
    assert roles.may("record_contact_attempt", "lp-1") and not roles.may("decide_closure", "lp-1")


def test_roles_file_refuses_teams_passwords_or_oidc_links_of_people_in_no_role(tmp_path: Path):
    path = tmp_path / "roles.toml"
    path.write_text('managers = ["tm-1"]\n[teams]\nNorth = ["tm-2"]\n')
    with pytest.raises(ConfigError, match=r"\['tm-2'\] in \[teams\], \[passwords\] or \[oidc\] but in no role"):
        Roles.load(path)
    path.write_text('managers = ["tm-1"]\n[oidc]\n"jo@council.example" = "tm-9"\n')
    with pytest.raises(ConfigError, match=r"\['tm-9'\] in \[teams\], \[passwords\] or \[oidc\]"):
        Roles.load(path)
    path.write_text('managers = ["tm-1"]\n[oidc]\n"jo@council.example" = "tm-1"\n')
    assert Roles.load(path).oidc == {"jo@council.example": "tm-1"}


def test_password_hashes_are_salted_and_malformed_ones_never_match():
    assert hash_password("same password") != hash_password("same password")
    assert not password_matches("x", "plain-text-password") and not password_matches("x", "scrypt$1$2")


def test_sign_in_is_throttled_per_staff_id_after_five_failures():
    now = [1000.0]
    throttle = Throttle(limit=5, window=900, clock=lambda: now[0])
    for _ in range(4):
        throttle.failed("lp-1")
    assert throttle.wait("lp-1") == 0
    throttle.failed("lp-1")
    assert throttle.wait("lp-1") == 900 and throttle.wait("lp-2") == 0
    now[0] += 600
    assert throttle.wait("lp-1") == 300
    now[0] += 300
    assert throttle.wait("lp-1") == 0  # the failures have aged out
    throttle.failed("lp-1")
    throttle.succeeded("lp-1")
    assert throttle.failures == {}


def test_a_field_a_rule_asks_for_in_some_cases_says_when_not_optional():
    """A needs-met closure must say how each need was met: the form says so, never "(optional)"."""
    from web.forms import fields_of
    from workflows.models import RequestClosure

    outcomes = next(w for w in fields_of(RequestClosure, ["education"]) if w.name == "need_outcomes")
    assert outcomes.needed_when == "needed to close as needs met or needs not met"
    assert outcomes.label == "How each need was met, or why not"


def test_failed_sign_ins_from_elsewhere_never_lock_a_person_out():
    """Five failures for lp-1 from an attacker's address: that address waits; lp-1 signs in from their own.
    Fifty failures from one address, for anyone: that address waits for everyone."""
    throttle = Throttle(limit=5, window=900, clock=lambda: 1000.0)
    for _ in range(5):
        throttle.signed_in("203.0.113.9", "lp-1", ok=False)
    assert throttle.sign_in_wait("203.0.113.9", "lp-1") == 900
    assert throttle.sign_in_wait("10.1.2.3", "lp-1") == 0
    for n in range(45):
        throttle.signed_in("203.0.113.9", f"someone-{n}", ok=False)
    assert throttle.sign_in_wait("203.0.113.9", "lp-2") == 900 and throttle.sign_in_wait("10.1.2.3", "lp-2") == 0


def test_hash_password_prints_a_roles_file_line_that_signs_in(tmp_path: Path):
    result = CliRunner().invoke(app, ["hash-password", "lp-1", "--password", "twelve chars!"])
    assert result.exit_code == 0, result.output
    roles = tmp_path / "roles.toml"
    roles.write_text('practitioners = ["lp-1"]\n[passwords]\n' + result.stdout)
    assert check_password(Roles.load(roles), "lp-1", "twelve chars!")
    short = CliRunner().invoke(app, ["hash-password", "lp-1", "--password", "short"])
    assert short.exit_code == 2 and "12 characters" in short.output


OPEN_REDIRECTS = [
    "//evil.example/x",
    "/\t/evil.example/x",
    "/%09/evil.example/x".replace("%09", "\t"),
    "/\\evil.example",
    "\\\\evil.example",
    "http://evil.example/x",
    "https:evil.example",
    "javascript:alert(1)",
    "/\n/evil.example",
    " //evil.example",
    "evil.example/x",
    "/ok\x7f",
    "",
]


@pytest.mark.parametrize("target", OPEN_REDIRECTS)
def test_next_after_sign_in_is_only_ever_a_path_of_this_site(target: str):
    """No open redirect (README "The web app"): browsers drop tabs and newlines and read a backslash as a slash."""
    assert safe_next(target) == "/"


@pytest.mark.parametrize("target", ["/inbox", "/cases/C-1?tab=timeline", "/cases/C%2F1"])
def test_next_keeps_a_path_of_this_site(target: str):
    assert safe_next(target) == target


def test_a_refusal_on_a_page_is_plain_english_without_its_rule_id_or_sources():
    from web.forms import plain

    assert plain("no_future_records: the contact attempt at Thu 3 Dec 2026, 14:15 is in the future [003]") == (
        "The contact attempt at Thu 3 Dec 2026, 14:15 is in the future"
    )
    assert plain("the family's consent is needed") == "The family's consent is needed"


def test_a_note_is_written_in_a_box_of_lines_and_when_it_happened_comes_last():
    """Issue #26: a case note was a one-line input and a date-time box came first in every form. Long texts (a
    note, a concern, a summary) are boxes whose lines are kept; an optional 'when, if not now' comes last."""
    from workflows.models import AddCaseNote, RecordContactAttempt

    widgets = forms.fields_of(AddCaseNote, [])
    assert [(w.name, w.kind) for w in widgets] == [
        ("text", "long"), ("significant", "checkbox"), ("kind", "select"), ("at", "datetime")
    ]  # fmt: skip
    assert [w.name for w in forms.fields_of(RecordContactAttempt, [])][-2:] == ["note", "at"]
    assert forms.fields_of(RecordTaf, [])[0].name == "held_at"  # a required time stays where the model puts it
    form = MultiDict({"text": "Rang school.\r\nSpoke to the DSL:\r\n- attendance up", "kind": "phone"})
    note = AddCaseNote.model_validate(forms.payload(widgets, form, "lp"))
    assert note.text == "Rang school.\nSpoke to the DSL:\n- attendance up"


def test_a_social_worker_refers_a_step_down_as_its_social_worker_and_nothing_else():
    """One rule at every door (web/cases.py referral_by): Duty and Advice and managers refer any family; a social
    worker a step-down, as its social worker [004]; a practitioner nothing."""
    from web.cases import Problem, referral_by

    social_worker = User("sw-1", frozenset({"social_workers"}), None)
    assert referral_by(social_worker, {"case_id": "C1"}) == {
        "case_id": "C1", "route": "step_down", "step_down": {"social_worker": "sw-1"}
    }  # fmt: skip
    kept = {"route": "step_down", "step_down": {"preferred_lead": "lp-1", "social_worker": "sw-1"}}
    assert referral_by(social_worker, kept) == kept
    for refused, field in (
        ({"route": "referral"}, "route"),
        ({"step_down": {"social_worker": "sw-2"}}, "step_down.social_worker"),
    ):
        with pytest.raises(Problem) as e:
            referral_by(social_worker, refused)
        assert e.value.status == 403 and str(e.value).startswith(f"{field}:")
    screener = User("das-1", frozenset({"screeners"}), None)
    assert referral_by(screener, {"route": "referral"}) == {"route": "referral"}
    with pytest.raises(Problem):
        referral_by(User("lp-1", frozenset({"practitioners"}), None), {"route": "step_down"})


async def test_a_step_down_without_the_signed_consent_forms_reference_is_refused_before_anything_starts():
    """Issue #26: it was accepted, then refused at the first command after it. The doors' start refuses it, naming
    the field, before asking Temporal anything (no client is needed to refuse it)."""
    from starter.local.samples import sample_referral
    from worker.temporal import start_case
    from workflows.models import StepDown
    from workflows.rules import RuleBroken

    referral = sample_referral("SD1", datetime(2026, 3, 2, 10, tzinfo=UTC), step_down=StepDown(social_worker="sw-1"))
    unsigned = referral.model_copy(update={"consent": referral.consent.model_copy(update={"form_ref": None})})
    with pytest.raises(RuleBroken) as e:
        await start_case(None, unsigned, "queue")  # type: ignore[arg-type]
    assert e.value.rule == "step_down_signed_consent_form" and "consent.form_ref is empty" in str(e.value)
    assert forms.rule_error(e.value.rule, str(e.value), forms.fields_of(type(referral), [])) == {
        "consent.form_ref": "A step-down needs the signed 'Early Help Information Sharing Consent Form'; "
        "consent form ref is empty"
    }


def test_a_text_per_child_or_need_and_several_actions_a_need_come_back_from_the_form_as_sent():
    """The draft's child's voice and analysis are a box per child (by name) and per need, read back from the form
    alone (a POST knows no children); the plan's update is a table of actions with a need each, where a row left
    blank, its 'closed' box unticked, is no action."""
    from workflows.models import SaveAssessmentDraft, UpdatePlan

    page = forms.fields_of(SaveAssessmentDraft, [NeedCode.education], people=[("P-2", "Amira (P-2)")])
    voice = next(c for c in page[0].children if c.name == "sections.child_voice")
    assert (voice.kind, voice.rows, voice.row_labels) == ("keyed", ["P-2"], {"P-2": "Amira (P-2)"})
    posted = forms.fields_of(SaveAssessmentDraft, [NeedCode.education])  # (what a POST builds)
    form = MultiDict(
        {"sections.child_voice.P-2": "I like school", "sections.analysis.education": "worse in winter",
         "sections.analysis.housing": "  "}
    )  # fmt: skip
    draft = SaveAssessmentDraft.model_validate(forms.payload(posted, form, "lp"))
    assert draft.sections.child_voice == {"P-2": "I like school"}
    assert draft.sections.analysis == {NeedCode.education: "worse in winter"}
    assert draft.sections.model_fields_set == {"child_voice", "analysis"}  # (a save of these sections only)
    table = forms.fields_of(UpdatePlan, [NeedCode.education])
    assert (table[0].kind, len(table[0].rows), table[0].row_noun) == ("table", 100, "action")
    form = MultiDict(
        {"actions.0.need_code": "education", "actions.0.action": "help", "actions.0.owner": "school",
         "actions.0.due": "2026-04-01", "actions.0.action_id": "A0",
         "actions.1.need_code": "education", "actions.1.action": "a club", "actions.1.owner": "school",
         "actions.1.due": "2026-04-08", "actions.1.action_id": "B1", "actions.1.closed": "on"}
    )  # fmt: skip
    plan = UpdatePlan.model_validate(forms.payload(table, form, "lp"))
    assert [(a.need_code, a.action_id, a.closed) for a in plan.actions] == [
        ("education", "A0", False),
        ("education", "B1", True),
    ]
