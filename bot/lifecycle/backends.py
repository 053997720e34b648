"""Grouping a job's objects by the backend that holds them, so each backend is asked once."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Generic, TypeVar

from bot.errors import PermanentError
from bot.lifecycle.context import Context, WorkflowUseCases
from bot.lifecycle.workflow import T, Workflow
from bot.policy import Policy

logger = logging.getLogger(__name__)
B = TypeVar("B")  # a backend
S = TypeVar("S")  # what a backend is told about one object


def by_backend(
    objs: Iterable[T], backends: Mapping[str, B], what: str
) -> Iterator[tuple[B, list[T]]]:
    """Yield each configured backend with its objects; objects whose backend is not
    configured are logged (as an error: nothing will move them) and skipped."""
    groups: dict[str, list[T]] = defaultdict(list)
    for obj in objs:
        groups[obj.backend].append(obj)
    for name, group in groups.items():
        backend = backends.get(name)
        if backend is None:
            logger.error("no %s backend %r for %d object(s)", what, name, len(group))
            continue
        yield backend, group


class BackendUseCases(WorkflowUseCases[T], Generic[T, B, S]):
    """A slice's jobs that call its backends: the workflow's backend port.

    Args:
        backends: the configured backends by name (an object names its backend).
        spec: what a backend is told about one object.
    """

    def __init__(
        self,
        ctx: Context,
        workflow: Workflow[T],
        backends: Mapping[str, B],
        spec: Callable[[T, Policy], S],
    ) -> None:
        super().__init__(ctx, workflow)
        self.backends = backends
        self._spec = spec

    def spec(self, obj: T) -> S:
        """The backend's view of `obj`, from its row and the policy."""
        return self._spec(obj, self.policy)

    def backend(self, name: str) -> B:
        """The configured backend by name; never a stand-in for a missing one.

        Raises:
            PermanentError: no backend of that name is configured.
        """
        backend = self.backends.get(name)
        if backend is None:
            raise PermanentError(
                f"no {self.life.workflow.noun} backend {name!r} is configured; "
                f"configured: {', '.join(sorted(self.backends)) or 'none'}"
            )
        return backend

    def grouped(self, objs: Iterable[T]) -> Iterator[tuple[B, list[T]]]:
        """`objs` by backend (see `by_backend`)."""
        return by_backend(objs, self.backends, self.life.workflow.noun)
