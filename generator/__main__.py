"""`python -m generator` runs the obsgen command line."""

from generator.cli import main

main()
