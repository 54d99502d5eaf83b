"""`python -m bridge` runs the timebridge CLI."""

from bridge.cli import main

main()
