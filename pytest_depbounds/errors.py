"""The errors a user can cause, each ending the run with one line and an exit code."""

from __future__ import annotations

import pytest

#: A bound's env could not be resolved or built (pytest itself has no such code).
EXIT_ENV_FAILED = 6


class DepboundsError(Exception):
    """An error a user can cause: shown as one line, never as a traceback."""

    exit_code: int = int(pytest.ExitCode.INTERNAL_ERROR)


class ConfigurationError(DepboundsError):
    """The project's declaration or our options are invalid."""

    exit_code = int(pytest.ExitCode.USAGE_ERROR)


class ResolutionError(DepboundsError):
    """No set of versions satisfies the declared ranges for a bound."""

    exit_code = EXIT_ENV_FAILED


class EnvBuildError(DepboundsError):
    """A bound's virtualenv could not be created or filled."""

    exit_code = EXIT_ENV_FAILED

    def __init__(
        self, message: str, *, failure: tuple[str, str, str] | None = None
    ) -> None:
        super().__init__(message)
        #: ``(name, version, why)`` of a distribution that did not build.
        self.failure = failure
