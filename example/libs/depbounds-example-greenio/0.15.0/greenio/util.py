"""Early helpers that patch one standard module each."""

from __future__ import annotations

from greenio import patcher


def wrap_socket_with_coroutine_socket() -> None:
    """Make the socket module cooperative."""
    patcher.monkey_patch(socket=True, thread=False)


def wrap_threading_local_with_coroutine_local() -> None:
    """Make ``threading.local`` per green thread."""
    patcher.monkey_patch(socket=False, thread=True)
