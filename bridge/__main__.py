"""`python -m bridge` runs the timebridge CLI."""

from bridge.cli.app import main

main()
