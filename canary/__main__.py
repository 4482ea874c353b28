"""``python -m canary`` runs the command line."""

from canary.cli.main import main

main()
