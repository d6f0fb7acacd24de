"""The family drawn as a genogram, from its recorded relationships, as shapes for an SVG (web/templates/genogram.html).

The usual symbols: a square for a male, a circle for a female, a diamond for anyone else or not known, a small
triangle for an unborn child; a shaded symbol lives in the household. Parents stand a row above their children,
partners side by side joined by a line; a line from the parents (their middle) comes down to each child, dashed
for a step-parent and dotted for a carer. Generations follow the relationships; a member no relationship places
stands by age (children on the children's row, anyone else on the parents' row). Graphviz was not used: its layouts know nothing of couples and
sibling lines, and it needs a program that a PyPI wheel does not bring (`make run` installs from wheels alone).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import date

from workflows.models import MemberView
from workflows.person import Relationship

SIZE, GAP_X, GAP_Y, MARGIN = 40, 130, 120, 40
# from_ref is the `kind` of to_ref: the generations between them (to_ref's row minus from_ref's).
STEPS = {"parent": 1, "step_parent": 1, "carer": 1, "grandparent": 2, "sibling": 0, "half_sibling": 0, "partner": 0}
LINES = {"parent": "solid", "step_parent": "dashed", "carer": "dotted"}


@dataclass
class Person:
    ref: str
    name: str
    shape: str  # square, circle, diamond or triangle
    household: bool
    caption: str
    x: float = 0
    y: float = 0


@dataclass
class Line:
    points: list[tuple[float, float]]
    style: str = "solid"


@dataclass
class Genogram:
    people: list[Person] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    width: float = 0
    height: float = 0
    words: list[str] = field(default_factory=list)  # the text alternative, a sentence a relationship


def name_of(member: MemberView) -> str:
    d = member.details
    if d is not None and (d.preferred_name or d.given_name or d.family_name):
        return " ".join(n for n in (d.preferred_name or d.given_name, d.family_name) if n)
    return member.person_ref


def age_of(member: MemberView, today: date) -> int | None:
    d = member.details
    if d is not None and d.date_of_birth is not None:
        born = d.date_of_birth
        return today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    return today.year - member.year_of_birth if member.year_of_birth else None


def _shape(member: MemberView) -> str:
    d = member.details
    if d is not None and d.date_of_birth is None and d.expected_date is not None:
        return "triangle"
    gender = d.gender if d is not None else None
    return {"male": "square", "female": "circle"}.get(gender or "", "diamond")


def _generations(members: list[MemberView], relationships: list[Relationship], today: date) -> dict[str, int]:
    """Each member's row: relationships first (breadth first from each unplaced member), age for the rest."""
    links: dict[str, list[tuple[str, int]]] = {m.person_ref: [] for m in members}
    for r in relationships:
        step = STEPS.get(r.kind)
        if step is not None and r.from_ref in links and r.to_ref in links:
            links[r.from_ref].append((r.to_ref, step))
            links[r.to_ref].append((r.from_ref, -step))
    row: dict[str, int] = {}
    for start in links:
        if start in row or not links[start]:
            continue
        group = {start: 0}
        queue = deque([start])
        while queue:
            ref = queue.popleft()
            for other, step in links[ref]:
                if other not in group:  # the first path found places a member; a contradiction is ignored
                    group[other] = group[ref] + step
                    queue.append(other)
        top = min(group.values())
        row.update({ref: level - top for ref, level in group.items()})
    children = max(row.values(), default=1) or 1  # the lowest row drawn, and the one above it for adults
    for m in members:
        if m.person_ref not in row:
            age = age_of(m, today)
            row[m.person_ref] = children if age is not None and age < 18 else children - 1
    return row


def draw(members: list[MemberView], relationships: list[Relationship], today: date) -> Genogram:
    if not members:
        return Genogram()
    row = _generations(members, relationships, today)
    by_ref = {m.person_ref: m for m in members}
    partners = {(r.from_ref, r.to_ref) for r in relationships if r.kind == "partner"}
    parents: dict[str, list[tuple[str, str]]] = {}
    for r in relationships:
        if r.kind in LINES and r.from_ref in by_ref and r.to_ref in by_ref:
            parents.setdefault(r.to_ref, []).append((r.from_ref, LINES[r.kind]))

    people: dict[str, Person] = {}
    for level in sorted(set(row.values())):
        placed = [m for m in members if row[m.person_ref] == level]

        # Children under their parents, eldest first; partners side by side.
        def key(m: MemberView) -> tuple[float, int]:
            above = [people[p].x for p, _ in parents.get(m.person_ref, []) if p in people]
            age = age_of(m, today)
            return (sum(above) / len(above) if above else 0.0, -(age if age is not None else -1))

        placed.sort(key=key)
        ordered: list[MemberView] = []
        for m in placed:
            if m in ordered:
                continue
            ordered.append(m)
            for a, b in partners:
                other = b if a == m.person_ref else a if b == m.person_ref else None
                if other and other in by_ref and by_ref[other] in placed and by_ref[other] not in ordered:
                    ordered.append(by_ref[other])
        for i, m in enumerate(ordered):
            age = age_of(m, today)
            caption = m.role + (f", {age}" if age is not None else "")
            people[m.person_ref] = Person(
                m.person_ref,
                name_of(m),
                _shape(m),
                m.lives_in_household,
                caption,
                MARGIN + SIZE / 2 + i * GAP_X,
                MARGIN + SIZE / 2 + level * GAP_Y,
            )

    lines = [Line([(people[a].x, people[a].y), (people[b].x, people[b].y)]) for a, b in partners]
    together = partners | {(b, a) for a, b in partners}
    for child, its_parents in parents.items():
        c = people[child]
        solid = [ref for ref, style in its_parents if style == "solid"]
        couple = next(((a, b) for a in solid for b in solid if (a, b) in together), None)
        for ref, style in its_parents:
            p = people[ref]
            if couple and ref in couple:
                if ref != couple[0]:
                    continue  # one line from the couple's middle
                x, top = (p.x + people[couple[1]].x) / 2, p.y
            else:
                x, top = p.x, p.y + SIZE / 2
            mid = (p.y + c.y) / 2
            lines.append(Line([(x, top), (x, mid), (c.x, mid), (c.x, c.y - SIZE / 2)], style))
    width = max(p.x for p in people.values()) + SIZE / 2 + MARGIN + 40
    height = max(p.y for p in people.values()) + SIZE / 2 + MARGIN + 30
    words = [
        f"{people[r.from_ref].name} is {'an' if r.kind[0] in 'aeiou' else 'a'} {r.kind.replace('_', ' ')} of"
        f" {people[r.to_ref].name}."
        for r in relationships
        if r.from_ref in people and r.to_ref in people
    ]
    words += [f"{p.name} does not live in the household." for p in people.values() if not p.household]
    return Genogram(list(people.values()), lines, width, height, words)
