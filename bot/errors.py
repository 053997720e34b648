"""The exception tree shared by services, handlers and backends.

Handlers turn user-facing errors into ephemeral answers; backends raise the
temporary/permanent pair so jobs know whether to retry::

    BotError
    ├── UserError            bad input; the message says what to do
    │   ├── NotAllowed       the actor may not do this
    │   ├── NotFound         no such object
    │   └── Conflict         someone else changed it first (double click, race)
    ├── InvalidTransition    a state machine refused an event
    └── BackendError
        ├── TemporaryError   retry after `retry_after` seconds
        └── PermanentError   give up; the object goes to FAILED
            └── NameTaken    the name is held by an object envbot does not own
"""

from __future__ import annotations


class BotError(Exception):
    """Base class of every error envbot raises on purpose."""


class UserError(BotError):
    """Bad input from a user; `str(err)` is shown to them as is."""


class NotAllowed(UserError):
    """The actor is not allowed to do this."""


class NotFound(UserError):
    """The named object does not exist (or is not visible to the actor)."""


class Conflict(UserError):
    """The object changed under us: a double click, a Slack retry or a race lost."""


class InvalidTransition(BotError):
    """A state machine has no transition for this (state, event) pair."""

    def __init__(self, machine: str, state: str, event: str) -> None:
        super().__init__(f"{machine}: no transition from {state} on {event}")
        self.machine = machine
        self.state = state
        self.event = event


class BackendError(BotError):
    """A backend (Kubernetes, AWS, Slack) call failed."""


class TemporaryError(BackendError):
    """A failure worth retrying after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: float = 30.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(BackendError):
    """A failure that retrying will not fix."""


class NameTaken(PermanentError):
    """An environment's name is held by an object envbot does not own (another tool, another
    install): the environment fails and nothing of that name is ever changed or deleted."""

    def __init__(self, name: str, detail: str = "") -> None:
        super().__init__(
            f"the name `{name}` is taken by something envbot does not own; pick another name"
        )
        self.name = name
        self.detail = detail  # which object, and whose it is, for the logs
