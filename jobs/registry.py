"""The job kinds: each app registers the runners it owns, from its ``jobs.py``.

An app's ``AppConfig.ready()`` imports its ``jobs.py``, whose ``@runner("kind", ...)`` functions
land here, in the web process and the worker alike: the web process asks the registry which
queue a kind goes to and what to call it, the worker which function runs it. The jobs layer
names no kind itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .worker import JobContext

Runner = Callable[["JobContext"], dict]


@dataclass(frozen=True)
class Kind:
    name: str
    function: Runner
    queue: str = "default"
    label: Any = ""  # a lazy translation, shown in lists
    # Errors a second attempt cannot fix: the job fails at once with the message.
    permanent: tuple[type[BaseException], ...] = ()
    # Loggers whose records go to the job's log (the owning app's by default).
    loggers: tuple[str, ...] = field(default=())
    hidden: bool = False  # left out of the job list unless asked for


KINDS: dict[str, Kind] = {}


def runner(
    name: str,
    *,
    queue: str = "default",
    label: Any = "",
    permanent: tuple[type[BaseException], ...] = (),
    loggers: tuple[str, ...] = (),
    hidden: bool = False,
) -> Callable[[Runner], Runner]:
    """Register ``function(context) -> {"metrics": ..., "output_dir": ...}`` for a job kind."""

    def register(function: Runner) -> Runner:
        owner = function.__module__.split(".")[0]
        KINDS[name] = Kind(name, function, queue, label or name, permanent,
                           loggers or (owner,), hidden)  # fmt: skip
        return function

    return register


def get(name: str) -> Kind | None:
    return KINDS.get(name)


def queue_for(name: str) -> str:
    kind = KINDS.get(name)
    return kind.queue if kind else "default"


def label_for(name: str) -> str:
    kind = KINDS.get(name)
    return str(kind.label) if kind else name


def hidden_kinds() -> list[str]:
    return [name for name, kind in KINDS.items() if kind.hidden]
