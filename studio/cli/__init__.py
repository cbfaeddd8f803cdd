"""The ``studio`` command: argparse over engine.run and the run store. Never Qt."""
