"""Reading the contract models' field types, for the CLI's options and the web app's forms alike."""

from __future__ import annotations

import types
import typing
from enum import Enum
from typing import Annotated, Any


def unwrap(annotation: Any) -> Any:
    """The type without Annotated and Optional (a union of several types is returned as it is)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Annotated:
        return unwrap(args[0])
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        return unwrap(rest[0]) if len(rest) == 1 else annotation
    return annotation


def choices(annotation: Any) -> list[str]:
    """The allowed values of a Literal or an enum; of a list's items for a list; else none."""
    annotation = unwrap(annotation)
    if typing.get_origin(annotation) is list:
        return choices(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) is typing.Literal:
        return [str(a) for a in typing.get_args(annotation)]
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return [str(m.value) for m in annotation]
    return []
