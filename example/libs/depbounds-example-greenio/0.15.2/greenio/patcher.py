"""Make standard modules cooperative (recorded only, in this stand-in)."""

from __future__ import annotations

patched: set[str] = set()


def monkey_patch(*, socket: bool = True, thread: bool = True) -> None:
    """Patch the given standard modules."""
    if socket:
        patched.add("socket")
    if thread:
        patched.add("thread")
