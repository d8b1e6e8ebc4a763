"""Ports: small Protocols owned by the code that uses them."""
