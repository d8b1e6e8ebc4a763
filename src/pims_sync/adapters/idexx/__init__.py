"""IDEXX Neo provider: Playwright login and JSON endpoints."""
