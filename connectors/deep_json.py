"""JSON nested deeper than any real record: read the rest, make the absurd part a marker.

Python's parser gives up (``RecursionError``) on a document nested a few thousand
levels deep, and that would fail a whole list for one hostile record. Here every
value nested deeper than :data:`MAX_DEPTH` is replaced by the string
:data:`TOO_DEEP` before parsing, so the list is read and only the record holding
that value fails its mapping (a reported skip) or, if the mapper never looks at the
field, is read as it is. Nothing else about the document changes.
"""

from __future__ import annotations

import json
import re
from typing import Any

#: Deeper than any record of the three APIs (theirs nest under ten levels).
MAX_DEPTH = 100
TOO_DEEP = "(a value nested too deeply to read)"

# A whole string (escapes included: a bracket inside one is text) or one bracket.
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.S)


def cap_depth(text: str, max_depth: int = MAX_DEPTH) -> str:
    """``text`` with each value nested deeper than ``max_depth`` replaced by :data:`TOO_DEEP`.

    Brackets are matched by a scan, not a parser, so it never recurses; a document
    with unbalanced brackets stays as broken as it was, for the parser to refuse.
    """
    parts: list[str] = []
    kept_to = depth = 0
    cut_at: int | None = None
    for token in _TOKEN.finditer(text):
        bracket = token.group()
        if bracket[0] == '"':
            continue
        if bracket in "[{":
            depth += 1
            if depth == max_depth + 1:
                cut_at = token.start()
        else:
            if depth == max_depth + 1 and cut_at is not None:
                parts += [text[kept_to:cut_at], json.dumps(TOO_DEEP)]
                kept_to, cut_at = token.end(), None
            depth -= 1
    parts.append(text[kept_to:])
    return "".join(parts)


def loads_capped(text: str) -> Any:
    """:func:`json.loads` of ``text`` with absurd nesting cut off (see :func:`cap_depth`)."""
    return json.loads(cap_depth(text))
