"""``python -m gapless`` runs the CLI."""

from gapless.cli.main import run

run()
