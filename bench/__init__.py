"""Benchmarks that print their figures; each module's ``run()`` returns them, and
``python -m bench`` prints them all in one table (see bench/__main__.py)."""
