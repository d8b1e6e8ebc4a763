"""`pims-sync cli`: the interactive console, an operator's window onto a running service."""
