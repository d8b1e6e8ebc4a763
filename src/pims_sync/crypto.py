"""AES-256-GCM encryption compatible with the original service (being built)."""
