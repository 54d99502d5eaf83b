"""Text from outside (API answers, comments, ids, errors) made safe to show.

Skip reasons, API error messages, comments, origin and task ids come from the
connected systems and are printed through ``rich`` onto a person's terminal,
written to CSV files that are opened in a spreadsheet, or logged. Three hazards:

* terminal control: ANSI/VT escape sequences (``ESC [2J`` clears the screen,
  ``ESC ]0;...BEL`` sets the window title, OSC 8 forges links) and other C0/C1
  control characters (BEL, backspace, carriage return that overwrites a line);
* rich markup: ``[bold red]x[/]`` is rendered as styling and a stray ``[/]``
  makes rich raise a ``MarkupError`` (the report, the sync table, ``status``);
* spreadsheet formulas: a CSV cell starting with ``=``, ``+``, ``-``, ``@``
  (or a tab or carriage return) is evaluated by Excel, LibreOffice and Sheets.

The functions here are pure and total: any value goes in (``None`` is the empty
string, anything else is ``str()``-ed), a safe ``str`` (or ``Text``) comes out,
and ordinary Unicode (accents, Cyrillic, CJK, emoji) is kept as it is. JSON
needs none of this for its *values*: :func:`json_for_terminal` only re-encodes
the few characters ``json.dumps(ensure_ascii=False)`` leaves raw, so the
decoded data stays exactly the same.
"""

from __future__ import annotations

import re

from rich.markup import escape as _rich_escape
from rich.text import Text

# Escape sequences, removed whole (ECMA-48). String commands (OSC, DCS, SOS, PM,
# APC) only when terminated (BEL or ST): an unterminated one loses just its ESC
# (below), so the rest of an error message stays readable instead of vanishing.
_SEQUENCE = re.compile(
    r"\x1b\][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)"        # OSC ... BEL | ST (7- or 8-bit)
    r"|\x1b[PX^_][^\x1b\x9c]*(?:\x1b\\|\x9c)"            # DCS, SOS, PM, APC ... ST
    r"|\x1b\[[0-?]*[ -/]*[@-~]"                          # CSI: ESC [ params final
    r"|\x1b[ -/]*[0-~]"                                  # other ESC sequences (ESC c, ESC(B)
    r"|\x9d[^\x07\x1b\x9c]*(?:\x07|\x9c)"                # 8-bit OSC
    r"|[\x90\x98\x9e\x9f][^\x1b\x9c]*(?:\x1b\\|\x9c)"    # 8-bit DCS, SOS, PM, APC
    r"|\x9b[0-?]*[ -/]*[@-~]"                            # 8-bit CSI
)
# Line and column breaks: a space on one line; kept (as \n) where lines are allowed.
_BREAKS = re.compile("\r\n|[\n\r\v\f\x85\u2028\u2029]")
_TAB = "\t"
# What is left to drop: C0 controls, DEL, C1 controls, and the bidirectional
# embeddings/overrides/isolates that reorder how a terminal shows the text
# ("Trojan source"); ordinary right-to-left text needs none of them.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

# CSV formula triggers (OWASP "CSV Injection"), plus their full-width forms,
# which some spreadsheet locales also read as formulas.
_FORMULA_START = frozenset("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20")
# A cell that is only a plain decimal number (``-5``, ``-0.25``) is left alone:
# a spreadsheet reads it as that very number, nothing is evaluated, and a quote
# would turn a negative amount into text.
_PLAIN_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
# Characters that json.dumps(ensure_ascii=False) writes raw although a terminal
# may act on them (C1 controls such as the 8-bit CSI U+009B) or a reader may
# take them for line ends (U+2028, U+2029).
_JSON_RAW = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _text(value: object) -> str:
    return "" if value is None else str(value)


def for_terminal(value: object, *, newlines: bool = False) -> str:
    """``value`` as plain text that cannot drive the terminal it is printed on.

    Removes ANSI/VT escape sequences (CSI, OSC, DCS and the like, 7- and 8-bit)
    whole, then every remaining C0 and C1 control character, DEL, and the
    bidirectional override/isolate characters. A tab becomes a space; line
    breaks (``\\n``, ``\\r\\n``, ``\\r``, and their Unicode kin) become one space,
    or, with ``newlines=True`` (a multi-line traceback), one ``\\n``. Everything
    else, including non-ASCII letters and emoji, is kept. ``None`` gives ``""``.

    The result is plain text, not markup: give it to rich as ``Text(...)`` or
    through :func:`for_rich`.
    """
    text = _SEQUENCE.sub("", _text(value))
    text = _BREAKS.sub("\n" if newlines else " ", text).replace(_TAB, " ")
    return _CONTROLS.sub("", text)


def for_rich(value: object) -> str:
    """:func:`for_terminal`, escaped for rich markup, so rich shows it literally.

    For a string that goes where rich parses markup (``console.print(str)``, a
    table cell given as ``str``): ``[bold]x[/]`` stays those characters and a
    stray ``[/]`` no longer raises ``MarkupError``. Prefer :func:`as_text`
    where a ``Text`` can be passed, since a ``Text`` is never parsed at all.
    """
    return _rich_escape(for_terminal(value))


def as_text(value: object, style: str = "") -> Text:
    """A rich ``Text`` of :func:`for_terminal` ``(value)``: never parsed as markup,
    never highlighted nor emoji-replaced, optionally styled as a whole."""
    return Text(for_terminal(value), style=style)


def for_file(value: object) -> str:
    """Text for a document a person opens (a CSV cell, an HTML page's text).

    Escape sequences and control characters are removed as by :func:`for_terminal`
    (such a document is often written to stdout, i.e. a terminal), but tabs and
    line breaks are kept, each break as ``\\n``: a comment's lines are data.
    ``None`` gives ``""``.
    """
    text = _SEQUENCE.sub("", _text(value))
    return _CONTROLS.sub("", _BREAKS.sub("\n", text))


def for_csv(value: object) -> str:
    """One CSV cell that a spreadsheet shows as text and never evaluates.

    First :func:`for_file` (no escape sequences nor control characters; tabs and
    line breaks are kept, and the ``csv`` module quotes such cells). Then,
    following OWASP ("CSV Injection"), a cell whose first character, or first
    one after leading spaces, is ``=``, ``+``, ``-``, ``@``, a tab or a line
    break (or a full-width ``＝ ＋ － ＠``) gets a single quote ``'`` in front,
    which spreadsheets read as "this is text".

    Choice: a cell that is only a plain decimal number, such as ``-5`` or
    ``-0.25`` (and any ``int``/``float``), is left as it is: it is read as
    that same number, nothing is evaluated, and quoting it would turn an amount
    into text. ``-5+1``, ``-1e3``, ``+5`` are not plain and are quoted.
    ``None`` gives ``""``.
    """
    if isinstance(value, int | float):
        return str(value)
    text = for_file(value)
    head = text.lstrip(" ")
    if head and head[0] in _FORMULA_START and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def json_for_terminal(text: str) -> str:
    """A JSON document with its raw C1 controls, DEL, U+2028/U+2029 and bidi
    controls written as ``\\uXXXX`` escapes.

    ``json.dumps(..., ensure_ascii=False)`` escapes C0 controls (ESC included)
    but writes these raw; outside strings JSON never holds them, so escaping
    them leaves the decoded document exactly the same while nothing a terminal
    could act on is printed.
    """
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
