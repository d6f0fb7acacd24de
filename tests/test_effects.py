"""What a save writes beside its events (activities/effects.py): the events that may have effects are known
before the case's context is read, and that list is the one `effects_of` answers for."""

from __future__ import annotations

import ast
import inspect

from activities import effects


def test_the_events_that_may_have_effects_are_exactly_those_effects_of_answers_for():
    """A save reads the case's context only for these (activities/store.py): an event `effects_of` gained a case
    for, left off the list, would have its message or letter silently not written."""
    tree = ast.parse(inspect.getsource(effects.effects_of))
    [match] = [node for node in ast.walk(tree) if isinstance(node, ast.Match)]
    answered = set()
    for case in match.cases:
        pattern = case.pattern
        if isinstance(pattern, ast.MatchValue) and isinstance(pattern.value, ast.Constant):
            answered.add(pattern.value.value)
        elif isinstance(pattern, ast.MatchOr):
            answered |= {p.value.value for p in pattern.patterns if isinstance(p, ast.MatchValue)}  # type: ignore[attr-defined]
    assert answered == effects.MAY_HAVE_EFFECTS
