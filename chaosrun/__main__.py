"""`python -m chaosrun`."""

from .cli import main

main()
