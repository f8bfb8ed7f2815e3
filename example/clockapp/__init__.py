"""clockapp: a tiny alarm clock, the example project of pytest-depbounds."""

from __future__ import annotations

__version__ = "0.3.0"
