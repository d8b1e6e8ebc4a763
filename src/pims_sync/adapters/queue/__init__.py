"""Job queues: in-process (embedded) and procrastinate (Postgres)."""
