"""Hide credentials in text we print or write: URL passwords and secret variables.

Applied to every message, log and report that may hold an index URL, an installer's
output or the value of an environment variable (pip's ``redact_auth_from_url``
does the same for pip's own output).
"""

from __future__ import annotations

import contextlib
import os
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from pathlib import Path

MASK = "****"

#: ``scheme://user:password@`` or ``scheme://token@``: the part before ``@``.
_URL_AUTH = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<auth>[^/@\s\"'<>]+)@"
)

#: Variables whose whole value is a secret (``UV_INDEX_PRIVATE_PASSWORD``,
#: ``GITHUB_TOKEN``, ``TWINE_PASSWORD``, ``AWS_SECRET_ACCESS_KEY``).
_SECRET_NAME = re.compile(
    r"(TOKEN|PASSWORD|PASSWD|SECRET|CREDENTIAL|API_?KEY|ACCESS_KEY|AUTH)", re.IGNORECASE
)

#: Values shorter than this are not masked alone: ``1`` or ``true`` are not secrets,
#: and masking them would garble every message.
_MIN_SECRET = 6


def _mask_auth(match: re.Match[str]) -> str:
    user, sep, _password = match["auth"].partition(":")
    # pip keeps the user name when there is a password; a lone token is masked.
    shown = f"{user}:{MASK}" if sep else MASK
    return f"{match['scheme']}{shown}@"


def secrets_in(environ: Mapping[str, str]) -> set[str]:
    """Secret strings an environment holds.

    :param environ: Usually ``os.environ``.
    :returns: Values of variables named like secrets, and every password or token
        written into a URL in any variable's value (also URL-decoded).
    """
    found: set[str] = set()
    for name, value in environ.items():
        if _SECRET_NAME.search(name) and len(value) >= _MIN_SECRET:
            found.add(value)
        if "@" not in value:
            continue
        for match in _URL_AUTH.finditer(value):
            user, sep, password = match["auth"].partition(":")
            secret = password if sep else user
            if len(secret) >= _MIN_SECRET:
                found.update({secret, unquote(secret)})
    return found


def redact(text: str, environ: Mapping[str, str] | None = None) -> str:
    """Mask credentials in a text.

    :param text: A message, a log or an installer's output.
    :param environ: Where secret variables are read (default: ``os.environ``).
    :returns: The text with URL passwords and secret values replaced by ``****``.
    """
    return _redact(text, _secrets(environ))


def redact_data(value: Any, environ: Mapping[str, str] | None = None) -> Any:  # noqa: ANN401 - any JSON value
    """Mask credentials in every string of a JSON-like value.

    :param value: Strings, numbers, lists, tuples and dicts, nested.
    :param environ: Where secret variables are read (default: ``os.environ``).
    :returns: A copy with every string redacted (keys included).
    """
    return _redact_data(value, _secrets(environ))


def scrub_file(path: Path, environ: Mapping[str, str] | None = None) -> None:
    """Mask credentials in a file another process wrote (an inner session's log).

    :param path: The file; a missing or unreadable one is left alone.
    :param environ: Where secret variables are read (default: ``os.environ``).
    """
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return
    clean = redact(text, environ)
    if clean != text:
        with contextlib.suppress(OSError):
            path.write_text(clean, encoding="utf-8")


def _secrets(environ: Mapping[str, str] | None) -> list[str]:
    # A secret that contains another must be replaced first, whole.
    found = secrets_in(os.environ if environ is None else environ)
    return sorted(found, key=len, reverse=True)


def _redact(text: str, secrets: Iterable[str]) -> str:
    if not text:
        return text
    text = _URL_AUTH.sub(_mask_auth, text)
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


def _redact_data(value: object, secrets: list[str]) -> object:
    if isinstance(value, str):
        return _redact(value, secrets)
    if isinstance(value, dict):
        return {
            _redact_data(k, secrets): _redact_data(v, secrets) for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return type(value)(_redact_data(v, secrets) for v in value)
    return value
