"""Benchmarks that print their figures; each module's ``run(n)`` returns them."""
