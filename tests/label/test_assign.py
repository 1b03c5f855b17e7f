"""The assignment policy: N raters per segment, about 10 % honeypots, re-rating after K items,
deterministic for a seed, and rebuilt from the event log alone."""

from __future__ import annotations

from collections import Counter

import pytest

from pianoeval.errors import ParameterError
from pianoeval.label.assign import (
    Assignment,
    AssignmentPolicy,
    holders,
    next_assignment,
    rater_state,
)

SEGMENTS = [f"s{i:03d}" for i in range(60)]
POTS = [f"h{i}" for i in range(8)]


def drain(
    policy: AssignmentPolicy,
    raters: list[int],
    *,
    segments: list[str] = SEGMENTS,
    pots: list[str] = POTS,
    skip: set[tuple[int, str]] = frozenset(),  # type: ignore[assignment]
    max_steps: int = 10_000,
) -> dict[int, list[tuple[str, str]]]:
    """Raters take turns asking for an item and finishing (or skipping) it, until all are done."""
    log: dict[int, list[tuple[str, str]]] = {r: [] for r in raters}
    active = list(raters)
    for _ in range(max_steps):
        if not active:
            break
        for r in list(active):
            held = holders(rater_state(ev, pots) for ev in log.values())
            item = next_assignment(policy, r, rater_state(log[r], pots), segment_ids=segments,
                                   honeypot_ids=pots, held=held)  # fmt: skip
            if item is None:
                active.remove(r)
                continue
            log[r].append((item.segment_id, item.event_kind))
            log[r].append((item.segment_id, "skip" if (r, item.segment_id) in skip else "done"))
    return log


def items(log: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(s, k) for s, k in log if k in ("assign", "assign_rerate")]


def test_each_segment_gets_n_distinct_raters() -> None:
    policy = AssignmentPolicy(n_raters=3, honeypot_rate=0.0, rerate_rate=0.0)
    log = drain(policy, [1, 2, 3, 4, 5])
    per_segment: Counter[str] = Counter()
    for events in log.values():
        got = [s for s, _ in items(events)]
        assert len(got) == len(set(got))  # never the same segment twice to one rater
        per_segment.update(got)
    assert per_segment == Counter(dict.fromkeys(SEGMENTS, 3))


def test_a_skipped_segment_goes_to_another_rater() -> None:
    policy = AssignmentPolicy(n_raters=1, honeypot_rate=0.0, rerate_rate=0.0)
    log = drain(policy, [1, 2], segments=["a", "b"], pots=[], skip={(1, "a")})
    # ana skips "a" at once, ben takes it while it is free, ana goes on with "b" (never "a" again)
    assert items(log[1]) == [("a", "assign"), ("b", "assign")]
    done = {(r, s) for r, ev in log.items() for s, k in ev if k == "done"}
    assert (2, "a") in done  # ana skipped it, ben rated it
    assert (1, "a") not in done


def test_about_one_honeypot_in_ten_items() -> None:
    policy = AssignmentPolicy(n_raters=1, honeypot_rate=0.1, rerate_rate=0.0, seed=3)
    log = drain(policy, [7], pots=[f"h{i}" for i in range(20)])
    kinds = ["h" if s.startswith("h") else "s" for s, _ in items(log[7])]
    # one honeypot per block of ten items while the segments last
    n_blocks = len(kinds) // 10
    for b in range(n_blocks):
        assert kinds[10 * b : 10 * b + 10].count("h") == 1
    assert kinds.count("s") == len(SEGMENTS)
    assert 0.08 <= kinds.count("h") / len(kinds) <= 0.12
    # a honeypot is never given twice to the same rater
    pots = [s for s, _ in items(log[7]) if s.startswith("h")]
    assert len(pots) == len(set(pots))


def test_honeypots_do_not_count_towards_n_raters() -> None:
    policy = AssignmentPolicy(n_raters=1, honeypot_rate=0.5, rerate_rate=0.0)
    log = drain(policy, [1, 2], segments=["a", "b", "c", "d"], pots=["h"])
    for r in (1, 2):
        assert ("h", "assign") in items(log[r])  # every rater gets the honeypot


def test_rerates_come_back_after_k_items_and_only_once() -> None:
    k = 4
    policy = AssignmentPolicy(n_raters=1, honeypot_rate=0.0, rerate_rate=0.25, rerate_after=k)
    log = drain(policy, [1], pots=[])
    sequence = items(log[1])
    rerated = [s for s, kind in sequence if kind == "assign_rerate"]
    assert len(rerated) == len(set(rerated))
    assert 0.1 * len(SEGMENTS) <= len(rerated) <= 0.45 * len(SEGMENTS)
    for seg in rerated:
        first = sequence.index((seg, "assign"))
        again = sequence.index((seg, "assign_rerate"))
        assert again - first - 1 >= k  # at least K other items in between


def test_same_seed_same_sequence_other_seed_differs() -> None:
    def run(seed: int) -> list[tuple[str, str]]:
        p = AssignmentPolicy(n_raters=2, honeypot_rate=0.1, rerate_rate=0.1, seed=seed)
        return items(drain(p, [1, 2])[1])

    assert run(0) == run(0)
    assert run(0) != run(1)


def test_open_item_is_given_again_and_state_comes_from_events() -> None:
    policy = AssignmentPolicy(n_raters=1, honeypot_rate=0.0)
    events = [("a", "assign"), ("a", "done"), ("b", "assign")]
    state = rater_state(events, [])
    assert state.open == Assignment("b", "segment")
    got = next_assignment(policy, 1, state, segment_ids=["a", "b", "c"], honeypot_ids=[],
                          held={"a": 1, "b": 1})  # fmt: skip
    assert got == Assignment("b", "segment")
    # a done or skip for another segment does not close it
    assert rater_state([*events, ("a", "skip")], []).open == Assignment("b", "segment")


@pytest.mark.parametrize(
    "kw",
    [{"n_raters": 0}, {"honeypot_rate": 0.9}, {"rerate_rate": -0.1}, {"rerate_after": 0}],
)
def test_bad_policy_values(kw: dict[str, float]) -> None:
    with pytest.raises(ParameterError):
        AssignmentPolicy(**kw)  # type: ignore[arg-type]
