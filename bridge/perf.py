"""Small helpers for the bulk paths (a million links loaded, a million entries planned)."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while bulk work makes many long-lived objects.

    Each full collection walks every object alive, so with millions of new entries
    it would run again and again over all of them; the objects made here are not
    garbage. Re-enabled afterwards only if it was on before.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
