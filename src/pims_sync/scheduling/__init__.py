"""Per-clinic schedules: which runs are due, and enqueueing them."""
