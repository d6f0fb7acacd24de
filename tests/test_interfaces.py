"""Workflow code calls activities through their interfaces (workflows/interfaces.py): each implementation
registers under an interface's name with the same arguments and result, and every one has an interface."""

from __future__ import annotations

import inspect
import typing

from temporalio import activity

import workflows.interfaces as interfaces
from activities.delivery import DeliveryActivities
from activities.digest import DigestActivities
from activities.mash import MashActivities
from activities.store import CaseActivities


def _defined(candidates: typing.Iterable[object]) -> dict[str, typing.Callable[..., object]]:
    found = {}
    for fn in candidates:
        definition = activity._Definition.from_callable(fn)  # type: ignore[arg-type]
        if definition is not None:
            found[definition.name] = fn
    return found


def _shape(fn: typing.Callable[..., object]) -> tuple[list[tuple[str, object, object]], object]:
    hints = typing.get_type_hints(fn)
    params = [p for p in inspect.signature(fn).parameters.values() if p.name != "self"]
    return [(p.name, hints[p.name], p.default) for p in params], hints["return"]


def test_each_activity_implementation_has_its_interfaces_name_arguments_and_result():
    stubs = _defined(vars(interfaces).values())
    implementations = _defined(
        member
        for cls in (CaseActivities, DeliveryActivities, MashActivities, DigestActivities)
        for _, member in inspect.getmembers(cls, inspect.isfunction)
    )
    assert sorted(stubs) == sorted(implementations)
    for name, stub in stubs.items():
        assert _shape(stub) == _shape(implementations[name]), name
