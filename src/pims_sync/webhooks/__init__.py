"""Webhooks: deliver each clinic's events to its endpoints, signed, in order, at least once."""
