"""timebridge: an exactly-once time-tracking sync bridge."""

__version__ = "0.1.0"
