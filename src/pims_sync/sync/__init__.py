"""The sync pipeline: inbound, cases (enrichment), reconciliation, full."""
