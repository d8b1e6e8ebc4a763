"""Request bodies' base: camelCase on the wire, snake_case in Python.

The model is defined once, with the answers' shapes (`shapes/base.py`); bodies import it here.
"""

from __future__ import annotations

from pims_sync.shapes.base import CamelModel

__all__ = ["CamelModel"]
