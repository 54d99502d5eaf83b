"""The ``[timebridge:SOURCE:ID]`` marker that Kaiten and Tracker copies carry in their comment.

The marker is how a copy names its origin in systems without a reference field
(INTERFACE.md, "How the bridge marks what it wrote"). It stands at the very end
of the comment; reading a record back strips it with the whitespace before it.
Only the LAST marker counts: a source comment may itself hold an older marker
mid-text, which then stays part of the text.
"""

from __future__ import annotations

import re

from connectors.model import MappingError, Origin

# The source part follows the config's reference_source rule; an id is anything
# without brackets or whitespace (numbers in Kaiten and Tracker, "tsh_..." in contracting).
_MARKER = re.compile(
    r"\s*\[timebridge:(?P<source>[A-Za-z0-9_.-]{1,64}):(?P<record_id>[^\[\]\s]+)\]\s*\Z"
)
_MARKER_ID = re.compile(r"[^\[\]\s]+")


def marker(origin: Origin) -> str:
    """The comment marker naming ``origin``: ``[timebridge:SOURCE:ID]``."""
    if not _MARKER_ID.fullmatch(origin.record_id):
        # A bracket or a space would make the marker unreadable: the copy would
        # later look like an original. Refuse rather than write that.
        raise MappingError(f"origin id {origin.record_id!r} cannot go into a comment marker")
    return f"[timebridge:{origin.source}:{origin.record_id}]"


def split_marker(comment: str | None) -> tuple[str, Origin | None]:
    """``comment`` without a trailing marker (and the whitespace before it), and that origin."""
    text = comment or ""
    match = _MARKER.search(text)
    if match is None:
        return text, None
    return text[: match.start()], Origin(source=match["source"], record_id=match["record_id"])


def read_marked(comment: object, where: str) -> tuple[str, Origin | None]:
    """A record's ``comment`` field split as :func:`split_marker` does; a MappingError
    naming ``where`` when it is there but not text."""
    if comment is not None and not isinstance(comment, str):
        raise MappingError(f"{where}: comment is not a string")
    return split_marker(comment)
