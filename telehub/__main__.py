"""`python -m telehub` runs the `telehub` command."""

from telehub.cli import main

main()
