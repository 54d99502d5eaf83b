"""The demo world: the three emulators, seeded with a few weeks of work, and a config
pointing at them. Used by ``timebridge demo`` (``bridge.cli.demo``) and by tests.

``world.DemoWorld`` is the whole world (a context manager).

Modules:

- ``config``: Writing the demo world's config: connectors pointing at the emulators, and
  four routes.
- ``seed``: The demo's seeded world: who works on what, and a few weeks of their time
  records.
- ``world``: ``timebridge demo``: the whole bridge against the built-in emulators, with no
  credentials.
"""

__all__ = [
    "config", "seed", "world",
]
