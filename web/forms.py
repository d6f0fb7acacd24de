"""HTML forms for the contract's commands, generated from their pydantic models.

Like the CLI, the forms come from the command models, so they cannot drift
from the contract. `fields_of` describes a model's fields as widgets;
`payload` turns a submitted form back into the model's input; `errors`
places pydantic's and the engine's messages beside the field they concern.
Who acts (`by`, and a consent's `recorded_by`) is the signed-in person,
never a form field.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ValidationError
from pydantic.fields import FieldInfo

from activities.effects import STAGE_NAMES, stage_name
from activities.plain_words import without_sources
from starter.staff.annotations import choices, unwrap
from workflows.bounds import MANY
from workflows.calendar import LONDON
from workflows.models import Need, NeedCode
from workflows.pathway import STEPS

LONG_TEXT = 10_000  # texts this long or longer are written in a box of several lines (a note, a summary)
SIGNED_IN = ("by", "recorded_by")  # filled from the session, never from the form
FORM_ERROR = ""  # errors about the whole command, shown above the form
# The field a pathway rule (workflows/rules.py) is about, so its message shows beside it.
RULE_FIELDS: dict[str, tuple[str, ...]] = {
    "threshold_departure_needs_reason": ("reason",),
    "signposting_names_services": ("services",),
    "no_future_records": ("at", "held_at"),
    "no_records_before_start": ("at", "held_at"),
    "letter_left_each_visit": ("letter_left",),
    "visits_apart": ("at",),
    "genogram_started": ("genogram_started",),
    "assessment_triangulated": ("sources",),
    "every_need_has_an_action": ("actions",),
    "review_date_after_meeting": ("review_date", "next_review_date"),
    "reviews_every_twelve_weeks": ("review_date", "next_review_date"),
    "closure_after_plan": ("need_outcomes", "progress"),
    "masp_re_referrals_history": ("criteria",),
    "consent_recorded_as_given": ("consent.given",),
    "step_down_signed_consent_form": ("consent.form_ref",),
    "rfas_states_family_needs": ("needs",),
    "meeting_ahead": ("meeting_at",),
}


@dataclass
class Widget:
    name: str  # the form field's name; nested as "consent.given", rows as "actions.education.owner"
    label: str
    kind: str  # text, long, number, checkbox, select, checkboxes, lines, datetime, date, group, rows, table, keyed
    required: bool = False
    choices: list[str] = field(default_factory=list)
    hint: str = ""
    children: list[Widget] = field(default_factory=list)  # a group's fields; a row's fields
    rows: list[str] = field(default_factory=list)  # a rows widget's keys (need codes)
    key: str = ""  # a rows widget's key field (need_code or code)
    optional_rows: bool = False  # rows have an "include" box (no required field marks them as used)
    signed_in: list[str] = field(default_factory=list)  # a group's fields filled with who acts
    needed_when: str = ""  # said instead of "(optional)" for a field a rule asks for in some cases only
    row_noun: str = "person"  # a table's rows: "person 1", "action 2"
    row_labels: dict[str, str] = field(default_factory=dict)  # a keyed widget's keys as people read them


# Commands and fields whose name does not read well as a label once its underscores are spaces.
LABELS = {
    "record_taf": "Record the TAF meeting",
    "invite_to_taf": "Invite to a TAF meeting",
    "record_masp_outcome": "Record the MASP outcome",
    "refer_to_masp": "Refer to MASP",
    "record_rfas": "Request an additional service",
    "decide_closure": "Decide the closure",
    "request_closure": "Ask to close the case",
    "allocate": "Allocate a lead practitioner",
    "add_case_note": "Add a case note",
    "person_ref": "Family member",
    "family_ref": "Family reference",
    "case_id": "Case id",
    "cin_meeting_agreed_plan": "The CIN meeting agreed the plan",
    "susd": "SUSD",
    "need_outcomes": "How each need was met, or why not",
    "preferred_lead": "Lead practitioner the family would like",
    "rag": "RAG rating",
    "better_when": "What will be better",
    "need_code": "Need",
    "action_id": "Action's id",
    "cin_plan_summary": "What the Child in Need plan still asks",
}
# Lists of rows keyed by need that hold several rows a need (a plan's actions as it changes): a table of rows,
# each with its need to choose, the plan's actions first (prefilled) then blank rows for new ones.
SEVERAL_A_NEED = {("UpdatePlan", "actions"): "action"}
ROW_NOUNS = {("RecordReview", "action_updates"): "action"}  # what a table's rows are, where not people
# Fields the model leaves optional but a rule asks for in some cases: their label says when, not "(optional)".
NEEDED_WHEN = {
    ("RequestClosure", "need_outcomes"): "needed to close as needs met or needs not met",
}
_RULE_ID = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)+: ")  # "no_future_records: ..." (the rule's id)
# A code in a message: a stage ('taf_pending'), a command, a need, a field ("consent.given", "date_of_birth").
_CODE = re.compile(
    r"'?\b(?P<code>[a-z][a-z0-9]*(?:[_.][a-z][a-z0-9]*)*_[a-z0-9]+(?:\.[a-z_]+)?|[a-z]+\.[a-z_]{2,})\b'?"
)
COMMAND_NAMES = frozenset(step.name for step in STEPS.values())
_DEVELOPER_WORDS = {"defaults to the workflow's now": "leave blank for now"}


def label(name: str) -> str:
    return LABELS.get(name) or name.replace("_", " ").capitalize().replace("Taf", "TAF").replace("Masp", "MASP")


def plain(text: str) -> str:
    """A text for a page: no rule id, source codes or developer words (the API and CLI keep them). A stage is
    said by its name, a command by its form's name, a field or a code in words ("needs met", "date of birth")."""
    for words, instead in _DEVELOPER_WORDS.items():
        text = text.replace(words, instead)
    text = _RULE_ID.sub("", without_sources(text)).strip()
    text = _CODE.sub(_in_words, text)
    return text[:1].upper() + text[1:]


def _in_words(found: re.Match[str]) -> str:
    code, quoted = found.group("code"), found.group(0).startswith("'") and found.group(0).endswith("'")
    if code in STAGE_NAMES:
        return f"'{stage_name(code)}'"
    if code in COMMAND_NAMES:
        return f"'{label(code)}'"
    words = code.replace("_", " ").replace(".", " ")
    return f"'{words}'" if quoted else words


def fields_of(
    model: type[BaseModel],
    case_needs: Sequence[NeedCode],
    prefix: str = "",
    omit: frozenset[str] = frozenset(),
    rows: int = 0,
    people: Sequence[tuple[str, str]] = (),
) -> list[Widget]:
    """The widgets of a model's fields; `omit` names fields (at any depth) the form leaves to their defaults.
    `rows`: a table's rows; `people`: the children a text per child is asked of, (reference, name)."""
    widgets = []
    for name, info in model.model_fields.items():
        if name in SIGNED_IN or name in omit:
            continue
        annotation = unwrap(info.annotation)
        w = Widget(prefix + name, label(name), "text", info.is_required(), hint=plain(info.description or ""))
        w.needed_when = NEEDED_WHEN.get((model.__name__, name), "")
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
        if annotation is bool:
            w.kind = "checkbox"
        elif annotation is int:
            w.kind = "number"
        elif choices(annotation):  # one of them, or some of them for a list
            w.kind, w.choices = "checkboxes" if origin is list else "select", choices(annotation)
        elif annotation in (datetime, AwareDatetime):
            w.kind, w.hint = "datetime", w.hint or "UK time"
        elif annotation is date:
            w.kind = "date"
        elif (model.__name__, name) in SEVERAL_A_NEED:
            w.kind, w.rows, w.row_noun = (
                "table",
                [str(i) for i in range(rows or MANY)],
                SEVERAL_A_NEED[(model.__name__, name)],
            )
            w.children = fields_of(args[0], case_needs, omit=omit)
        elif (
            origin is list
            and isinstance(args[0], type)
            and issubclass(args[0], BaseModel)
            and not {"code", "need_code"} & set(args[0].model_fields)
        ):
            # Rows of a list with no key (a family's members): `rows` blank rows, each sent when filled in.
            w.kind, w.rows = "table", [str(i) for i in range(rows or 5)]
            w.row_noun = ROW_NOUNS.get((model.__name__, name), "person")
            w.children = fields_of(args[0], case_needs, omit=omit)
        elif origin is list and isinstance(args[0], type) and issubclass(args[0], BaseModel):
            row_model = args[0]
            w.key = "code" if "code" in row_model.model_fields else "need_code"
            w.kind, w.children = "rows", [c for c in fields_of(row_model, case_needs) if c.name != w.key]
            # Needs found by an assessment may be any of the ten; otherwise, one row per need of the case.
            w.rows = [str(c.value) for c in NeedCode] if row_model is Need else [str(c) for c in case_needs]
            w.optional_rows = not any(c.required for c in w.children)
        elif origin is dict:
            # A text per need (an analysis) or per child (their voice): a box for each, labelled by its need or name.
            if choices(args[0]):
                keys = [str(c) for c in case_needs] or choices(args[0])
                w.row_labels = {k: k.replace("_", " ").capitalize() for k in keys}
            else:
                w.row_labels = dict(people)
            w.kind, w.rows = "keyed", list(w.row_labels)
        elif origin is list:
            w.kind, w.hint = "lines", (w.hint + "; " if w.hint else "") + "one per line"
        elif annotation is str and _longest(info) >= LONG_TEXT:
            w.kind = "long"  # a note, a summary, a concern: a box of several lines
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            w.kind, w.children = "group", fields_of(annotation, case_needs, prefix + name + ".", omit, rows, people)
            w.signed_in = [n for n in annotation.model_fields if n in SIGNED_IN]
        widgets.append(w)
    # When it happened, if not now, comes after what happened (it used to come first in every form).
    return [w for w in widgets if not _when_if_not_now(w)] + [w for w in widgets if _when_if_not_now(w)]


def _when_if_not_now(w: Widget) -> bool:
    return w.kind == "datetime" and not w.required


def _longest(info: FieldInfo) -> int:
    """A text field's maximum length, however it is annotated (optional or not)."""
    metadata = list(info.metadata)
    for arg in typing.get_args(info.annotation):
        if typing.get_origin(arg) is typing.Annotated:
            metadata += typing.get_args(arg)[1:]
    return max((m.max_length for m in metadata if getattr(m, "max_length", None)), default=0)


def _value(w: Widget, form: Mapping[str, Any], name: str) -> Any:
    """One widget's value from the submitted form, or None when left empty."""
    if w.kind == "checkbox":
        return name in form
    if w.kind == "checkboxes":
        return list(form.getall(name, []))  # type: ignore[attr-defined]
    raw = str(form.get(name, "")).strip()
    if w.kind == "lines":
        return [line.strip() for line in raw.splitlines() if line.strip()]
    if raw == "":
        return None
    if w.kind == "datetime":
        try:  # <input type=datetime-local> has no zone: it is the practitioner's, UK time
            return datetime.fromisoformat(raw).replace(tzinfo=LONDON).isoformat()
        except ValueError:
            return raw  # pydantic says what is wrong with it
    return raw


def payload(
    widgets: Sequence[Widget], form: Mapping[str, Any], by: str, signed_in: Sequence[str] = ("by",)
) -> dict[str, Any]:
    """A command's input from a submitted form (pydantic then validates and converts it)."""
    return _collect(widgets, form, by) | dict.fromkeys(signed_in, by)


def _collect(widgets: Sequence[Widget], form: Mapping[str, Any], by: str) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for w in widgets:
        name = w.name.rsplit(".", 1)[-1]
        if w.kind == "group":
            data[name] = _collect(w.children, form, by) | dict.fromkeys(w.signed_in, by)
        elif w.kind == "table":
            filled = [
                {c.name: v for c in w.children if (v := _value(c, form, f"{w.name}.{i}.{c.name}")) is not None}
                for i in w.rows
            ]
            data[name] = [row for row in filled if any(v not in (None, False, []) for v in row.values())]
        elif w.kind == "keyed":  # the boxes filled in (keys from the form itself: a POST needs no case to read them)
            start = w.name + "."
            keys = w.rows or [k[len(start) :] for k in form if k.startswith(start)]  # type: ignore[attr-defined]
            given = {k: v for k in keys if (v := str(form.get(start + k, "")).strip())}
            if given:
                data[name] = given
        elif w.kind == "rows":
            data[name] = []
            for key in w.rows:
                row = {c.name: _value(c, form, f"{w.name}.{key}.{c.name}") for c in w.children}
                used = (
                    f"{w.name}.{key}" in form
                    if w.optional_rows
                    else any(v not in (None, False, []) for v in row.values())
                )
                if used:
                    data[name].append({w.key: key} | {k: v for k, v in row.items() if v is not None})
        else:
            value = _value(w, form, w.name)
            if value is not None and value != []:
                data[name] = value
    return data


def validation_errors(error: ValidationError, widgets: Sequence[Widget], data: Mapping[str, Any]) -> dict[str, str]:
    """pydantic's errors by form field name (a row's error by its need code)."""
    rows = {w.name: w for w in widgets if w.kind == "rows"}
    found: dict[str, str] = {}
    for e in error.errors():
        loc = [str(part) for part in e["loc"]]
        message = e["msg"].removeprefix("Value error, ")
        if loc and loc[0] in rows and len(loc) > 1 and loc[1].isdigit():
            row = data[loc[0]][int(loc[1])]
            w = rows[loc[0]]
            name = ".".join([loc[0], str(row[w.key]), *loc[2:]])
        else:
            name = ".".join(loc) if loc else FORM_ERROR
        found.setdefault(name, message)
    return found


def rule_error(rule: str, message: str, widgets: Sequence[Widget]) -> dict[str, str]:
    """The engine's refusal, beside the field its rule is about (or above the form)."""
    names = {w.name for w in widgets} | {c.name for w in widgets for c in w.children}
    message = plain(message)
    for name in RULE_FIELDS.get(rule, ()):
        if name in names:
            return {name: message}
    return {FORM_ERROR: message}
