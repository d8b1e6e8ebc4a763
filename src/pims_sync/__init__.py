"""pims-sync: keeps a clinic's cases in step with its practice-management system."""

from __future__ import annotations

__version__ = "0.1.0"
