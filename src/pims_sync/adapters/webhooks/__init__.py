"""Webhook delivery over HTTP: the shared client and its address guard."""
