"""The operator's web dashboard under `/dashboard` (docs/dashboard.md)."""
