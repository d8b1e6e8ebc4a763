"""The `pims-sync` command line."""
