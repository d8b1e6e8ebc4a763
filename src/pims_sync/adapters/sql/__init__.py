"""SQL adapters: tables, engine and stores on SQLite and Postgres."""
