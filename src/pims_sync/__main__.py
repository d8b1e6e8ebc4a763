"""`python -m pims_sync` runs the command line."""

from __future__ import annotations

from pims_sync.cli.app import main

main()
