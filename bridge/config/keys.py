"""The keys a table of the config file may hold, for "did you mean" on a mistyped key.

An unknown key is an error (a typo must never be ignored); the error is more useful when
it names the key that was probably meant. The keys come from the config's own models,
walked along the error's location, so the suggestion is a key of that very table.
"""

from __future__ import annotations

import difflib
import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from bridge.config.models import Config


def suggestion(loc: tuple[Any, ...]) -> str:
    """``"; did you mean 'window_days'?"`` for an unknown key at ``loc``, or ``""``."""
    if not loc:
        return ""
    known = keys_at(loc[:-1])
    close = difflib.get_close_matches(str(loc[-1]), sorted(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def keys_at(path: tuple[Any, ...]) -> set[str]:
    """The keys the table at ``path`` (a pydantic error location) may hold."""
    node: Any = Config
    for part in path:
        node = _step(node, part)
        if node is None:
            return set()
    return _keys(node)


def _members(tp: Any) -> tuple[Any, ...]:
    """The types a union (or an Annotated / Optional one) stands for."""
    origin = get_origin(tp)
    if origin is Union or origin is types.UnionType:
        return tuple(m for arg in get_args(tp) for m in _members(arg))
    if origin is Annotated:
        return _members(get_args(tp)[0])
    return (tp,)


def _model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _step(tp: Any, part: Any) -> Any:
    """The type one step further along an error's location, or None when unknown."""
    members = [m for m in _members(tp) if m is not type(None)]
    if len(members) > 1:   # a tagged union: the location names the tag ("kaiten")
        tagged = [m for m in members if _model(m) and part in _tags(m)]
        return tagged[0] if tagged else None
    tp = members[0] if members else None
    if _model(tp):
        field = tp.model_fields.get(str(part))
        return None if field is None else field.annotation
    origin = get_origin(tp)
    if origin is dict:
        return get_args(tp)[1]
    if origin is list and isinstance(part, int):
        return get_args(tp)[0]
    if len(_members(tp)) > 1:
        return _step(tp, part)
    return None


def _tags(model: type[BaseModel]) -> set[Any]:
    field = model.model_fields.get("type")
    if field is None:
        return set()
    if get_origin(field.annotation) is Literal:
        return set(get_args(field.annotation))
    return {field.default}


def _keys(tp: Any) -> set[str]:
    found: set[str] = set()
    for member in _members(tp):
        if _model(member):
            found |= {f.alias or name for name, f in member.model_fields.items()}
    return found
