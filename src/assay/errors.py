"""One exception tree for everything assay raises on purpose.

    AssayError                      base; ``message`` + optional ``hint``; CLI exit code 2 for user errors
    ├── UserError                   the user asked for something impossible or malformed
    │   ├── ConfigError             a config file, key or value is wrong
    │   ├── ModelNotFoundError      unknown provider/alias, missing path, folder that is not a model
    │   ├── InvalidModelFileError   a file that is not what its provider needs (e.g. not GGUF)
    │   ├── SamplingError           invalid sampling values (temperature < 0, top_p out of range, ...)
    │   ├── ContextLengthError      a prompt longer than the model's context, by how many tokens
    │   ├── MissingExtraError       an optional dependency is not installed; hint has the pip line
    │   ├── MissingAPIKeyError      an API backend has no key
    │   ├── UnsupportedOperationError  the backend cannot do this (log-likelihood on a chat-only API)
    │   └── WorkspaceError          no workspace where one is needed, or a broken database
    └── BackendError                the model or server failed while doing valid work
        ├── ServerUnreachableError  an HTTP backend cannot be reached
        └── TransientBackendError   timeout / 429 / 5xx: retried with backoff before it surfaces

The CLI prints ``error: <message>`` and ``hint: <hint>`` on one line each, no traceback unless
``--debug``. ``AssayWarning`` is for work that went on with something lost (a call that could
not be logged, input bytes that were replaced); the CLI prints it as one ``warning:`` line.
"""

from __future__ import annotations


class AssayError(Exception):
    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"


class UserError(AssayError):
    exit_code = 2


class ConfigError(UserError):
    pass


class ModelNotFoundError(UserError):
    pass


class InvalidModelFileError(UserError):
    pass


class SamplingError(UserError):
    pass


class ContextLengthError(UserError):
    def __init__(self, n_tokens: int, context_length: int, what: str = "prompt") -> None:
        over = n_tokens - context_length
        super().__init__(
            f"{what} is {n_tokens} tokens, {over} more than the model's context of {context_length}",
            hint="shorten the input, lower --max-tokens, or use a model with a longer context",
        )
        self.n_tokens = n_tokens
        self.context_length = context_length


class MissingExtraError(UserError):
    def __init__(self, what: str, module: str, install: str) -> None:
        super().__init__(
            f"{what} needs the package '{module}', which is not installed", hint=install
        )
        self.module = module
        self.install = install


class MissingAPIKeyError(UserError):
    pass


class UnsupportedOperationError(UserError):
    pass


class WorkspaceError(UserError):
    pass


class AssayWarning(UserWarning):
    pass


class BackendError(AssayError):
    pass


class ServerUnreachableError(BackendError):
    exit_code = 2


class TransientBackendError(BackendError):
    """Worth retrying: a timeout, HTTP 429 or 5xx. ``retry_after`` is the server's wish, if any."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


__all__ = [
    "AssayError",
    "AssayWarning",
    "BackendError",
    "ConfigError",
    "ContextLengthError",
    "InvalidModelFileError",
    "MissingAPIKeyError",
    "MissingExtraError",
    "ModelNotFoundError",
    "SamplingError",
    "ServerUnreachableError",
    "TransientBackendError",
    "UnsupportedOperationError",
    "UserError",
    "WorkspaceError",
]
