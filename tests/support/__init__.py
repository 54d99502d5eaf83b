"""Helpers shared by several test modules (``tests/`` is on ``sys.path``: ``from support.x
import y``)."""
