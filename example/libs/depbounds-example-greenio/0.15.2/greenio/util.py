"""Early helpers that patch one standard module each.

Deprecated since 0.15.2, removed in 0.16.0: use ``greenio.patcher.monkey_patch``.
"""

from __future__ import annotations

import warnings

from greenio import patcher

warnings.warn(
    "greenio.util is deprecated and will be removed in greenio 0.16: "
    "use greenio.patcher.monkey_patch",
    DeprecationWarning,
    stacklevel=2,
)


def wrap_socket_with_coroutine_socket() -> None:
    """Make the socket module cooperative."""
    patcher.monkey_patch(socket=True, thread=False)


def wrap_threading_local_with_coroutine_local() -> None:
    """Make ``threading.local`` per green thread."""
    patcher.monkey_patch(socket=False, thread=True)
