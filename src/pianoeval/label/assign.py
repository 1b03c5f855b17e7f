"""Who rates what next: a pure, seeded assignment policy over the store's event log.

Rules
-----
- **N raters per segment.** Regular segments are given in queue order (``select`` ranks
  them); a segment goes to a rater only while fewer than ``n_raters`` distinct raters hold it
  (assigned and not skipped). A skip gives the segment back to the pool, never to the same
  rater again.
- **Honeypots.** Items are counted per rater in blocks of ``round(1 / honeypot_rate)``
  (10 for the default 0.1); one item of each block, at a seeded position, is a honeypot the
  rater has not had yet (in a seeded per-rater order). With no honeypot left, the slot takes
  a regular segment.
- **Re-rating.** Of the regular segments a rater finished, a seeded share ``rerate_rate``
  (decided per rater and segment, so about that share) comes back once the rater has finished
  at least ``rerate_after`` other items since; it is stored apart (``rerate_answers``) so QC
  can compare both answers. The rater is not told.
- **An open item stays open.** Until the rater finishes (``done``) or skips it, the same item
  is given again, so a reload or a restarted server puts the rater back where they were.

Everything is derived from the events the app logs in the store (``assign``,
``assign_rerate``, ``done``, ``skip``), so a restart rebuilds the same state, and the
functions here take those events as plain values: no database, no clock, no global random
state (every draw is a SHA-256 of the seed and the ids).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from pianoeval.errors import ParameterError

__all__ = [
    "ASSIGN",
    "ASSIGN_RERATE",
    "DONE",
    "SKIP",
    "STATE_KINDS",
    "Assignment",
    "AssignmentPolicy",
    "RaterState",
    "holders",
    "next_assignment",
    "rater_state",
]

ASSIGN, ASSIGN_RERATE, DONE, SKIP = "assign", "assign_rerate", "done", "skip"
#: The event kinds the assignment state is rebuilt from.
STATE_KINDS: tuple[str, ...] = (ASSIGN, ASSIGN_RERATE, DONE, SKIP)

ItemKind = Literal["segment", "honeypot", "rerate"]


@dataclass(frozen=True)
class AssignmentPolicy:
    """Parameters of the assignment.

    Attributes
    ----------
    n_raters : int
        Distinct raters per regular segment (default 3).
    honeypot_rate : float
        Share of a rater's items that are honeypots, in [0, 0.5] (default 0.1).
    rerate_rate : float
        Share of a rater's finished segments given back for re-rating, in [0, 1]
        (default 0.05).
    rerate_after : int
        Items a rater finishes between a segment and its re-rating, at least (default 5).
    seed : int
        Seeds every draw (honeypot positions and order, which segments come back).
    """

    n_raters: int = 3
    honeypot_rate: float = 0.1
    rerate_rate: float = 0.05
    rerate_after: int = 5
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_raters < 1:
            raise ParameterError(f"n_raters must be at least 1, got {self.n_raters}")
        if not 0.0 <= self.honeypot_rate <= 0.5:
            raise ParameterError(f"honeypot_rate must be in [0, 0.5], got {self.honeypot_rate}")
        if not 0.0 <= self.rerate_rate <= 1.0:
            raise ParameterError(f"rerate_rate must be in [0, 1], got {self.rerate_rate}")
        if self.rerate_after < 1:
            raise ParameterError(f"rerate_after must be at least 1, got {self.rerate_after}")

    @property
    def honeypot_block(self) -> int:
        """Items per block holding one honeypot (0: no honeypots)."""
        return 0 if self.honeypot_rate <= 0 else max(2, round(1.0 / self.honeypot_rate))


@dataclass(frozen=True)
class Assignment:
    """One item given to a rater.

    Attributes
    ----------
    segment_id : str
    kind : {'segment', 'honeypot', 'rerate'}
        Kept on the server: the page is never told which.
    """

    segment_id: str
    kind: ItemKind

    @property
    def event_kind(self) -> str:
        """The event logged when the item is given (``assign`` or ``assign_rerate``)."""
        return ASSIGN_RERATE if self.kind == "rerate" else ASSIGN


@dataclass
class RaterState:
    """What one rater has been given and has finished, rebuilt from their events.

    Attributes
    ----------
    n_given : int
        Items given so far (every kind, skipped ones included).
    given : list of str
        Segments given for a first rating (regular and honeypot), in order.
    rerated : set of str
        Segments given back for re-rating.
    finished : list of (str, bool)
        ``(segment_id, is_rerate)`` of every item finished (``done``), in order.
    skipped : set of str
        Segments the rater skipped (first rating).
    open : Assignment or None
        The item given and neither finished nor skipped yet.
    """

    n_given: int = 0
    given: list[str] = field(default_factory=list)
    rerated: set[str] = field(default_factory=set)
    finished: list[tuple[str, bool]] = field(default_factory=list)
    skipped: set[str] = field(default_factory=set)
    open: Assignment | None = None


def rater_state(events: Iterable[tuple[str, str]], honeypot_ids: Iterable[str]) -> RaterState:
    """Rebuild a rater's state from their events.

    Parameters
    ----------
    events : iterable of (segment_id, kind)
        The rater's events in the order they were logged (other kinds are ignored).
    honeypot_ids : iterable of str
        Which segments are honeypots.

    Examples
    --------
    >>> s = rater_state([("a", "assign"), ("a", "done"), ("b", "assign")], [])
    >>> s.finished, s.open
    ([('a', False)], Assignment(segment_id='b', kind='segment'))
    """
    pots = set(honeypot_ids)
    state = RaterState()
    for segment_id, kind in events:
        if kind in (ASSIGN, ASSIGN_RERATE):
            state.n_given += 1
            if kind == ASSIGN_RERATE:
                state.rerated.add(segment_id)
                state.open = Assignment(segment_id, "rerate")
            else:
                state.given.append(segment_id)
                item: ItemKind = "honeypot" if segment_id in pots else "segment"
                state.open = Assignment(segment_id, item)
        elif kind in (DONE, SKIP) and state.open and state.open.segment_id == segment_id:
            if kind == DONE:
                state.finished.append((segment_id, state.open.kind == "rerate"))
            elif state.open.kind != "rerate":
                state.skipped.add(segment_id)
            state.open = None
    return state


def holders(states: Iterable[RaterState]) -> Counter[str]:
    """Count, per segment, the raters holding it for a first rating (given, not skipped)."""
    count: Counter[str] = Counter()
    for s in states:
        for segment_id in set(s.given) - s.skipped:
            count[segment_id] += 1
    return count


def _unit(seed: int, *parts: object) -> float:
    """Return a uniform draw in [0, 1) fixed by the seed and the parts (SHA-256, no state)."""
    text = ":".join(str(p) for p in (seed, *parts))
    return int(hashlib.sha256(text.encode()).hexdigest()[:16], 16) / 2.0**64


def _honeypot_slot(policy: AssignmentPolicy, rater_id: int, index: int) -> bool:
    block = policy.honeypot_block
    if block == 0:
        return False
    position = int(_unit(policy.seed, "honeypot-slot", rater_id, index // block) * block)
    return index % block == position


def _comes_back(policy: AssignmentPolicy, rater_id: int, segment_id: str) -> bool:
    return _unit(policy.seed, "rerate", rater_id, segment_id) < policy.rerate_rate


def next_assignment(
    policy: AssignmentPolicy,
    rater_id: int,
    state: RaterState,
    *,
    segment_ids: Sequence[str],
    honeypot_ids: Sequence[str],
    held: Mapping[str, int],
) -> Assignment | None:
    """Return the next item for a rater, or None when there is nothing left for them.

    Parameters
    ----------
    policy : AssignmentPolicy
    rater_id : int
    state : RaterState
        The rater's state (:func:`rater_state`).
    segment_ids : sequence of str
        Regular segments in queue order.
    honeypot_ids : sequence of str
    held : mapping of str to int
        Raters holding each segment (:func:`holders` over every rater).

    Returns
    -------
    Assignment or None
        The open item if there is one; else a due re-rating, else a honeypot on a honeypot
        slot, else the first regular segment the rater has not had that fewer than
        ``n_raters`` raters hold.

    Examples
    --------
    >>> p = AssignmentPolicy(n_raters=1, honeypot_rate=0.0)
    >>> next_assignment(p, 1, RaterState(), segment_ids=["a", "b"], honeypot_ids=[],
    ...                 held={"a": 1})
    Assignment(segment_id='b', kind='segment')
    """
    if state.open is not None:
        return state.open
    pots = set(honeypot_ids)
    order = [seg for seg, _ in state.finished]
    for i, (seg, was_rerate) in enumerate(state.finished):
        if was_rerate or seg in pots or seg in state.rerated:
            continue
        if len(order) - 1 - i >= policy.rerate_after and _comes_back(policy, rater_id, seg):
            return Assignment(seg, "rerate")
    had = set(state.given)
    if _honeypot_slot(policy, rater_id, state.n_given):
        left = [h for h in honeypot_ids if h not in had]
        if left:
            pick = min(left, key=lambda h: _unit(policy.seed, "honeypot-order", rater_id, h))
            return Assignment(pick, "honeypot")
    for seg in segment_ids:
        if seg not in had and held.get(seg, 0) < policy.n_raters:
            return Assignment(seg, "segment")
    return None
