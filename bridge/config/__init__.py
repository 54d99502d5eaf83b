"""Configuration: the TOML file as typed, validated models. Imports nothing of the bridge
but the shared bottom (``bridge.vocab``, ``bridge.safe_text``).

``loader.load_config`` reads a file into a ``LoadedConfig``; ``models.Config`` is its shape.

Modules:

- ``daemon``: The ``[daemon]`` table: where the daemon's HTTP listener binds, its webhook
  secret, and how stale a route may get before ``/readyz`` fails.
- ``keys``: The keys a table of the config file may hold, for "did you mean" on a mistyped
  key.
- ``loader``: Finding, reading and validating the config file; secrets; "today".
- ``models``: The configuration as typed models: TOML in, validated config out.
"""

__all__ = [
    "daemon", "keys", "loader", "models",
]
