"""What the service says: one pydantic model per JSON shape of its answers.

The HTTP API declares them as its response models, the sync pipeline builds its results
with them (they are what the audit rows and the run events keep), and the CLI's `--json`
prints them; none of them lives in `api/`, so the CLI and the console read the same
definitions without importing the HTTP layer.
"""
