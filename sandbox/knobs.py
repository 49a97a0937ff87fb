"""The realism and fault knobs of a sandbox (:class:`Knobs`) and the checks their
values must pass; ``PATCH /_sandbox/knobs`` and the runner's options both go
through :func:`check_knob`.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, field, fields
from typing import Any, TypedDict

WRITES, ALL = "writes", "all"
READ_ONLY_METHODS = frozenset({"GET", "HEAD"})
LOST_ANSWER_MODES = ("502", "504", "close", "mixed")
LOST_KINDS = ("502", "504", "close")  # what "mixed" picks from
# Counter keys of injected faults; ``total`` in /_sandbox/counters leaves them out
# so that it keeps counting requests.
FAULT_COUNTER_PREFIXES = ("lost:", "late ", "slow-bulk ", "429 ")
_SELECTOR = re.compile(r"^(GET|HEAD|POST|PUT|PATCH|DELETE) (/\S*)$")


class KnobError(ValueError):
    """A knob value of the wrong type or out of range; ``knob`` names it."""

    def __init__(self, knob: str, problem: str) -> None:
        super().__init__(f"{knob}: {problem}")
        self.knob = knob


class LateWrite(TypedDict):
    count: int  # requests still to hold
    seconds: float  # how long each is held before it is applied


def selects(selector: str, method: str, pattern: str) -> bool:
    """Whether ``selector`` ("writes", "all" or "METHOD /pattern") picks this route."""
    if selector == ALL:
        return True
    if selector == WRITES:
        return method not in READ_ONLY_METHODS
    return selector == f"{method} {pattern}"


_Checker = Callable[[str, Any], Any]


def _number(low: float = 0.0, high: float | None = None) -> _Checker:
    def check(name: str, value: Any) -> float:
        # bool is an int to Python, but ``true`` for a latency is a caller's mistake.
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise KnobError(name, f"expected a number, got {value!r}")
        if value < low or (high is not None and value > high):
            bound = f"from {low:g} to {high:g}" if high is not None else f"at least {low:g}"
            raise KnobError(name, f"must be {bound}, got {value!r}")
        return float(value)

    return check


def _whole(low: int | None = None) -> _Checker:
    def check(name: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise KnobError(name, f"expected a whole number, got {value!r}")
        if low is not None and value < low:
            raise KnobError(name, f"must be at least {low}, got {value!r}")
        return value

    return check


def _one_of(choices: tuple[str, ...]) -> _Checker:
    def check(name: str, value: Any) -> str:
        if value not in choices:
            raise KnobError(name, f"expected one of {', '.join(choices)}, got {value!r}")
        return str(value)

    return check


def _selector(name: str, value: Any) -> str:
    if not isinstance(value, str) or not (value in (WRITES, ALL) or _SELECTOR.match(value)):
        raise KnobError(
            name,
            f"expected a route selector ('writes', 'all' or "
            f"'METHOD /route/{{pattern}}'), got {value!r}",
        )
    return value


def _selectors(name: str, value: Any) -> list[str]:
    if not isinstance(value, list):
        raise KnobError(name, f"expected a list of route selectors, got {value!r}")
    return [_selector(f"{name}[{n}]", item) for n, item in enumerate(value)]


def _late_writes(name: str, value: Any) -> dict[str, LateWrite]:
    if not isinstance(value, dict):
        raise KnobError(name, f'expected {{selector: {{"count": N, "seconds": S}}}}, got {value!r}')
    out: dict[str, LateWrite] = {}
    for selector, entry in value.items():
        where = f"{name}[{selector!r}]"
        _selector(where, selector)
        if not isinstance(entry, dict) or set(entry) != {"count", "seconds"}:
            raise KnobError(where, f'expected {{"count": N, "seconds": S}}, got {entry!r}')
        count = _whole(0)(where + ".count", entry["count"])
        seconds = _number(0.0)(where + ".seconds", entry["seconds"])
        if count:  # an exhausted entry is no entry (the GET shows what is left)
            out[selector] = LateWrite(count=count, seconds=seconds)
    return out


_CHECKS: dict[str, _Checker] = {
    "latency_ms": _number(),
    "rate_limit_per_sec": _number(),
    "retry_after_sec": _number(),
    "p429": _number(0.0, 1.0),
    "p5xx": _number(0.0, 1.0),
    "seed": _whole(),
    "lost_answer_p": _number(0.0, 1.0),
    "lost_answer_mode": _one_of(LOST_ANSWER_MODES),
    "fault_routes": _selectors,
    "late_writes": _late_writes,
    "slow_bulk_ms_per_issue": _number(),
}


def check_knob(name: str, value: Any) -> Any:
    """``value`` as knob ``name`` stores it (a fresh copy for lists and dicts), or KnobError."""
    check = _CHECKS.get(name)
    if check is None:
        raise KnobError(name, "no such knob")
    return check(name, value)


@dataclass
class Knobs:
    """Realism and fault settings; change them at any time (``PATCH /_sandbox/knobs``).

    Faults that refuse a request before it is applied: ``latency_ms`` (a delay),
    ``rate_limit_per_sec`` (a token bucket answering 429), ``p429``, ``p5xx``.

    Faults that make a write's outcome unknown to the client (only on routes
    registered with ``faults=True``; control routes never get them):

    * ``lost_answer_p`` (0..1, 0 = off): the handler runs and its effect is
      stored, then the answer is lost. Only a 2xx answer is lost: a refused
      request (4xx from the handler) ran too, but losing its answer would prove
      nothing about exactly-once. ``lost_answer_mode`` picks how: ``"502"`` or
      ``"504"`` (a gateway's HTML page, ``text/html``, not the service's error
      shape; keep-alive), ``"close"`` (the connection is closed without a byte:
      ``RemoteDisconnected`` for requests/urllib3) or ``"mixed"`` (each lost
      answer draws one of the three from the seeded generator).
    * ``fault_routes``: which routes may lose answers; route selectors are
      ``"writes"`` (every method but GET/HEAD, so read-only POSTs such as ADO's
      wiql and workitemsbatch count too), ``"all"``, or ``"METHOD /pattern"``
      exactly as the route was registered
      (``"POST /rest/api/3/issue/{issueIdOrKey}/comment"``).
    * ``late_writes``: ``{selector: {"count": N, "seconds": S}}``; the next N
      matching requests are each held S seconds before the handler runs, and
      it runs even when the client has given up. The first matching entry (in
      insertion order) is used; exhausted entries are dropped. A PATCH replaces
      the whole mapping. A request already held when the knobs are reset is
      still applied at the end of its hold.
    * ``slow_bulk_ms_per_issue``: bulk creates (Jira's ``POST /issue/bulk``;
      the ADO sandbox has none) sleep this long per issue before applying.

    Every injected fault is counted (``/_sandbox/counters``) as
    ``"lost:{502|504|close} METHOD /pattern"``, ``"late METHOD /pattern"`` or
    ``"slow-bulk METHOD /pattern"``. Values are type-checked: see :func:`check_knob`.
    """

    latency_ms: float = 0.0
    rate_limit_per_sec: float = 0.0  # burst limit (token bucket); 0 = none
    retry_after_sec: float = 1.0
    p429: float = 0.0  # probability of a random 429
    p5xx: float = 0.0  # probability of a random 500/503
    seed: int = 0
    lost_answer_p: float = 0.0  # probability that a selected write's 2xx answer is lost
    lost_answer_mode: str = "mixed"  # "502", "504", "close" or "mixed"
    fault_routes: list[str] = field(default_factory=lambda: [WRITES])
    late_writes: dict[str, LateWrite] = field(default_factory=dict)
    slow_bulk_ms_per_issue: float = 0.0

    def __post_init__(self) -> None:
        # Not a dataclass field, so asdict() and the knob GET leave it out. It
        # guards ``late_writes``, which requests decrement from many threads.
        self._lock = threading.Lock()
        for f in fields(self):
            # Copies lists and dicts too, so two services built from the same
            # options never share (and decrement) one late-writes mapping.
            setattr(self, f.name, check_knob(f.name, getattr(self, f.name)))

    def update(self, changes: dict[str, Any], routes: Collection[str] | None = None) -> list[str]:
        """Apply known keys; return the unknown ones.

        Every known value is checked before any is applied, so a refused change
        changes nothing (:class:`KnobError`). With ``routes`` (``"METHOD
        /pattern"`` strings), selectors must also name one of them.
        """
        known = {f.name for f in fields(self)}
        checked = {k: check_knob(k, v) for k, v in changes.items() if k in known}
        if routes is not None:
            _check_routes(checked, routes)
        with self._lock:
            for key, value in checked.items():
                setattr(self, key, value)
        return [k for k in changes if k not in known]

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return asdict(self)

    def selected(self, method: str, pattern: str) -> bool:
        """Whether ``fault_routes`` lets this route lose answers."""
        return any(selects(s, method, pattern) for s in self.fault_routes)

    def take_late(self, method: str, pattern: str) -> float | None:
        """Seconds to hold this request (and one less to hold), or None."""
        if not self.late_writes:  # the common case, without the lock
            return None
        with self._lock:
            for selector, entry in self.late_writes.items():
                if selects(selector, method, pattern):
                    entry["count"] -= 1
                    if entry["count"] <= 0:
                        del self.late_writes[selector]  # safe: we stop iterating here
                    return entry["seconds"]
        return None


def _check_routes(checked: dict[str, Any], routes: Collection[str]) -> None:
    named = [("fault_routes", s) for s in checked.get("fault_routes", [])]
    named += [("late_writes", s) for s in checked.get("late_writes", {})]
    for knob, selector in named:
        if selector not in (WRITES, ALL) and selector not in routes:
            raise KnobError(
                knob,
                f"{selector!r} is not a route of this sandbox that takes "
                "faults (give METHOD and pattern exactly as registered)",
            )
