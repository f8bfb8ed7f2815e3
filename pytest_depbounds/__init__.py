"""Test a project at the lower and upper edges of its declared dependency ranges."""

from __future__ import annotations

__version__ = "0.1.0"
