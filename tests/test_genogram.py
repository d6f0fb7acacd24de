"""The genogram (web/genogram.py): rows from relationships, the usual symbols, one line per couple, words beside."""

from __future__ import annotations

from datetime import date

from jinja2 import Environment, FileSystemLoader, select_autoescape

from web.genogram import draw
from workflows.models import MemberView
from workflows.person import PersonDetails, Relationship

TODAY = date(2026, 12, 3)


def member(ref: str, role: str, *, consent: str = "given", here: bool = True, **details: object) -> MemberView:
    return MemberView.model_validate(
        {
            "person_ref": ref,
            "role": role,
            "consent": consent,
            "lives_in_household": here,
            "details": PersonDetails.model_validate(details) if details else None,
        }
    )


def related(a: str, kind: str, b: str) -> Relationship:
    return Relationship(from_ref=a, to_ref=b, kind=kind)  # type: ignore[arg-type]


FAMILY = [
    member("GRAN", "grandmother", given_name="Nóra", family_name="Ní Bhriain", gender="female", here=False),
    member("MUM", "mother", given_name="Siobhán", family_name="Ó Briain", gender="female", date_of_birth="1990-05-17"),
    member("DAD", "father", given_name="Tomasz", family_name="Wiśniewski", gender="male"),
    member("OLDER", "child", given_name="Zofia", family_name="Wiśniewska", gender="female", date_of_birth="2014-02-01"),
    member("YOUNGER", "child", given_name="Jan", family_name="Wiśniewski", gender="male", date_of_birth="2019-09-09"),
    member("BABY", "unborn child", expected_date="2027-03-01"),
    member("LODGER", "family friend", given_name="Sam", date_of_birth="1970-01-01"),
]
TIES = [
    related("GRAN", "parent", "MUM"),
    related("MUM", "partner", "DAD"),
    related("MUM", "parent", "OLDER"),
    related("DAD", "parent", "OLDER"),
    related("MUM", "parent", "YOUNGER"),
    related("DAD", "step_parent", "YOUNGER"),
    related("MUM", "parent", "BABY"),
    related("OLDER", "sibling", "YOUNGER"),
]


def test_each_generation_has_its_row_and_children_stand_eldest_first_under_their_parents():
    drawn = {p.ref: p for p in draw(FAMILY, TIES, TODAY).people}
    assert drawn["GRAN"].y < drawn["MUM"].y == drawn["DAD"].y < drawn["OLDER"].y == drawn["YOUNGER"].y
    assert drawn["BABY"].y == drawn["OLDER"].y and drawn["OLDER"].x < drawn["YOUNGER"].x
    assert abs(drawn["MUM"].x - drawn["DAD"].x) == 130  # partners side by side
    assert drawn["LODGER"].y == drawn["MUM"].y  # no relationship: an adult stands on the parents' row


def test_the_usual_symbols_shading_for_the_household_and_names_in_any_script():
    drawn = {p.ref: p for p in draw(FAMILY, TIES, TODAY).people}
    assert [drawn[r].shape for r in ("MUM", "DAD", "BABY", "LODGER")] == ["circle", "square", "triangle", "diamond"]
    assert not drawn["GRAN"].household and drawn["MUM"].household
    assert drawn["DAD"].name == "Tomasz Wiśniewski" and drawn["MUM"].caption == "mother, 36"


def test_a_couples_child_hangs_from_the_couples_middle_and_a_step_parent_is_dashed():
    drawn = draw(FAMILY, TIES, TODAY)
    at = {p.ref: p for p in drawn.people}
    middle = (at["MUM"].x + at["DAD"].x) / 2
    down = [line for line in drawn.lines if len(line.points) == 4]  # partners' lines have two points
    to_older = [line for line in down if line.points[-1][0] == at["OLDER"].x]
    assert len(to_older) == 1 and to_older[0].points[0][0] == middle and to_older[0].style == "solid"
    to_younger = {line.style for line in down if line.points[-1][0] == at["YOUNGER"].x}
    assert to_younger == {"solid", "dashed"}


def test_the_words_beside_it_say_every_relationship_and_who_left():
    words = draw(FAMILY, TIES, TODAY).words
    assert "Nóra Ní Bhriain is a parent of Siobhán Ó Briain." in words
    assert "Tomasz Wiśniewski is a step parent of Jan Wiśniewski." in words
    assert "Nóra Ní Bhriain does not live in the household." in words
    assert len(words) == len(TIES) + 1


def test_the_svg_escapes_what_was_typed_and_says_the_words_to_a_screen_reader():
    family = [member("A", "mother", given_name="<script>alert(1)</script>", gender="female"), member("B", "child")]
    templates = Environment(loader=FileSystemLoader("web/templates"), autoescape=select_autoescape())
    svg = templates.get_template("genogram.html").render(genogram=draw(family, [related("A", "parent", "B")], TODAY))
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert 'role="img"' in svg and "is a parent of B.</desc>" in svg


def test_no_members_draws_nothing():
    assert draw([], [], TODAY).people == []
