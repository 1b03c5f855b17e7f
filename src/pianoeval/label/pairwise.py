"""Pairwise labeling: two takes of one passage, "which is more ...?", scored by Bradley-Terry.

Raters find it easier and more consistent to say which of two takes of the *same passage* is
more legato than to place one take on an absolute scale. This module turns such answers into
per-dimension scores.

Conventions
-----------
- A **pair** holds two takes (segments) of one passage, shown as *left* (A) and *right* (B).
  The passage of a segment is ``groups[group_key]`` (``"excerpt"`` by default); a PercePiano
  segment without it falls back to the excerpt its id parses to; any other row falls back to
  its ``score_uri`` (with its score bars, or bars, when it has them). Segments with no passage
  are left out with a warning.
- A **question** asks about the dimension's *high* end, built from the taxonomy's high
  descriptor, never from the dimension's name: ``percepiano19.timbre_brightness`` runs bright
  → dark, so its question is "Which take sounds darker?", while
  ``execution16.timbre_brightness`` (dark → bright) asks "Which take sounds brighter?".
  The stored ``choice`` is therefore always the take nearer the high end (``'left'`` or
  ``'right'``), or ``'same'`` when the rater hears no difference.
- **Scores** come from a Bradley-Terry model fitted per dimension and per passage (takes of
  different passages are never compared, so their strengths share no scale). The fit is
  ``choix.opt_pairwise``: the maximum of the log-likelihood with an L2 penalty
  ``alpha * sum(strength**2)``, which keeps strengths finite when a take wins every
  comparison and centres them (mean 0 within the passage). ``'same'`` counts as half a win
  each way (``ties='half'``) or is dropped (``ties='drop'``). A strength ``s`` becomes the
  score ``1 / (1 + exp(-s))`` in (0, 1): the modelled probability that the take is chosen
  over a take of average strength of the same passage (0.5: average). Scores are relative
  to the passage, not an absolute rating. Takes never compared get no score.

The comparisons live in the answer store's SQLite file (:class:`PairStore`), next to the
slider answers of :class:`pianoeval.label.store.AnswerStore`, with the same guarantees:
WAL, ``synchronous=FULL``, one committed transaction per answer, raters see only their own
comparisons and admin rights are checked in the database.
"""

from __future__ import annotations

import math
import os
import sqlite3
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Literal, get_args

import numpy as np

from pianoeval.dims import Dimension, resolve_dimension
from pianoeval.errors import (
    BackendUnavailableError,
    ParameterError,
    PianoEvalError,
    PianoEvalWarning,
)
from pianoeval.label.store import (
    AnswerStore,
    LabelPermissionError,
    LabelStoreError,
    Rater,
    UnknownTokenError,
)

__all__ = [
    "DEFAULT_ALPHA",
    "SCORES_SCHEMA_VERSION",
    "BTScore",
    "Choice",
    "Comparison",
    "NotHeardError",
    "Pair",
    "PairQuestion",
    "PairStore",
    "PairwiseScore",
    "bradley_terry",
    "make_pairs",
    "pair_question",
    "pairwise_scores",
    "passage_of",
    "scores_document",
]

Choice = Literal["left", "right", "same"]
Ties = Literal["half", "drop"]
CHOICES: tuple[str, ...] = get_args(Choice)

#: L2 penalty of the Bradley-Terry fit, per comparison. Small: it only keeps strengths finite
#: (a take that wins every comparison) and barely moves well-measured ones.
DEFAULT_ALPHA = 0.05

#: Version of the JSON written by :func:`scores_document`.
SCORES_SCHEMA_VERSION = 1

#: Comparisons each take takes part in by default (per dimension, per rater).
DEFAULT_PER_ITEM = 4


# -- pairs ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Pair:
    """Two takes of one passage, in the order they are shown.

    Attributes
    ----------
    left_id, right_id : str
        Segment ids of take A (left) and take B (right).
    passage : str
        The passage both takes play.
    """

    left_id: str
    right_id: str
    passage: str


def _field(row: Any, name: str) -> Any:
    if isinstance(row, Mapping):
        return row.get(name)
    return getattr(row, name, None)


def passage_of(row: Any, *, group_key: str = "excerpt") -> str | None:
    """Return the passage a manifest row plays, or None when it cannot be told.

    Parameters
    ----------
    row : Segment or mapping
        A manifest row (a :class:`pianoeval.manifest.Segment` or its JSON dict).
    group_key : str
        The ``groups`` entry that names the passage.

    Returns
    -------
    str or None
        ``groups[group_key]``; else, for a PercePiano row, the ``group_key`` its segment id
        parses to (``excerpt``, ``performer`` or ``work``); else ``"score:<score_uri>"``
        (with ``"#bars=a-b"`` when the row has score bars or bars); else None.

    Examples
    --------
    >>> passage_of({"segment_id": "t1", "groups": {"excerpt": "op10_3_a"}})
    'op10_3_a'
    >>> passage_of({"segment_id": "t2", "score_uri": "etude.musicxml", "bars": [1, 8]})
    'score:etude.musicxml#bars=1-8'
    >>> passage_of({"segment_id": "t3"}) is None
    True
    """
    groups = _field(row, "groups") or {}
    if groups.get(group_key):
        return str(groups[group_key])
    segment_id = str(_field(row, "segment_id") or "")
    if _field(row, "dataset") == "percepiano" and group_key in ("excerpt", "performer", "work"):
        from pianoeval.data.percepiano import parse_name

        try:
            return str(getattr(parse_name(segment_id), group_key))
        except ParameterError:
            pass
    score_uri = _field(row, "score_uri")
    if score_uri:
        bars = _field(row, "score_bars") or _field(row, "bars")
        return f"score:{score_uri}" + (f"#bars={bars[0]}-{bars[1]}" if bars else "")
    return None


def _balanced_edges(n: int, k: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """Edges among ``n`` takes giving each about ``k`` comparisons (degrees differ by <= 1).

    A ring through all takes comes first (when ``k >= 2``), so the comparison graph of a
    passage is connected and Bradley-Terry can place every take on one scale; then pairs of
    the least-compared takes are added, ties broken at random.
    """
    k = min(k, n - 1)
    degree = np.zeros(n, dtype=int)
    edges: set[tuple[int, int]] = set()

    def add(u: int, v: int) -> None:
        edges.add((min(u, v), max(u, v)))
        degree[u] += 1
        degree[v] += 1

    if k >= 2 and n >= 3:
        for i in range(n):
            add(i, (i + 1) % n)
    elif n == 2:
        add(0, 1)
    noise = rng.random(n)
    while True:
        needy = np.flatnonzero(degree < k)
        if needy.size == 0:
            break
        # the least-compared take picks the least-compared take it has not met; a take whose
        # every free partner is full takes one anyway (that partner ends one above k)
        u = int(needy[np.lexsort((noise[needy], degree[needy]))[0]])
        free = np.array([v for v in range(n) if v != u and (min(u, v), max(u, v)) not in edges])
        if free.size == 0:
            break
        v = int(free[np.lexsort((noise[free], degree[free], degree[free] >= k))[0]])
        add(u, v)
    return sorted(edges)


def make_pairs(
    rows: Iterable[Any],
    *,
    group_key: str = "excerpt",
    per_item: int = DEFAULT_PER_ITEM,
    seed: int = 0,
) -> list[Pair]:
    """Pair takes of the same passage so each take is compared about ``per_item`` times.

    Parameters
    ----------
    rows : iterable of Segment or mapping
        Manifest rows; the passage of each comes from :func:`passage_of`.
    group_key : str
        The ``groups`` entry that names the passage (``"excerpt"``: the same passage played by
        different performers).
    per_item : int
        Comparisons per take (>= 1), capped at the number of other takes of its passage (all
        pairs then). Every take gets ``per_item`` or ``per_item + 1``; with ``per_item >= 2``
        each passage's pairs connect all its takes.
    seed : int
        Seeds the choice of pairs, which take is left, and the order of the list: the same
        rows (in any order) and seed give the same pairs.

    Returns
    -------
    list of Pair
        Passages interleaved in a random order; a passage with one take gives none.

    Raises
    ------
    ParameterError
        ``per_item < 1``, or a segment id given twice.

    Warns
    -----
    PianoEvalWarning
        For rows whose passage cannot be told (they are left out).

    Examples
    --------
    >>> rows = [{"segment_id": f"take{i}", "groups": {"excerpt": "x"}} for i in range(4)]
    >>> pairs = make_pairs(rows, per_item=2)
    >>> len(pairs), {p.passage for p in pairs}
    (4, {'x'})
    """
    if isinstance(per_item, bool) or not isinstance(per_item, int) or per_item < 1:
        raise ParameterError(f"per_item must be an integer >= 1, got {per_item!r}")
    by_passage: dict[str, list[str]] = defaultdict(list)
    seen: set[str] = set()
    missing: list[str] = []
    for row in rows:
        segment_id = str(_field(row, "segment_id") or "")
        if not segment_id:
            raise ParameterError("make_pairs: a row has no segment_id")
        if segment_id in seen:
            raise ParameterError(f"make_pairs: segment {segment_id!r} is given twice")
        seen.add(segment_id)
        passage = passage_of(row, group_key=group_key)
        if passage is None:
            missing.append(segment_id)
        else:
            by_passage[passage].append(segment_id)
    if missing:
        warnings.warn(
            f"{len(missing)} segment(s) have no passage (no groups[{group_key!r}], no "
            f"score_uri) and get no pairs: {', '.join(missing[:5])}"
            + (" ..." if len(missing) > 5 else ""),
            PianoEvalWarning,
            stacklevel=2,
        )
    rng = np.random.default_rng(seed)
    pairs: list[Pair] = []
    for passage in sorted(by_passage):
        takes = sorted(by_passage[passage])
        if len(takes) < 2:
            continue
        order = [takes[i] for i in rng.permutation(len(takes))]
        for u, v in _balanced_edges(len(order), per_item, rng):
            a, b = (order[u], order[v]) if rng.random() < 0.5 else (order[v], order[u])
            pairs.append(Pair(a, b, passage))
    return [pairs[i] for i in rng.permutation(len(pairs))]


# -- questions -----------------------------------------------------------------------------
#: Natural wording of the question for dimensions whose high descriptor reads badly in the
#: generic form. Every entry asks about the HIGH end of the stored scale.
_QUESTIONS: dict[str, str] = {
    "percepiano19.timing": "Which take's timing is more unstable?",
    "percepiano19.articulation_length": "Which take is more legato (notes held longer)?",
    "percepiano19.articulation_touch": "Which take has a harder, more solid touch?",
    "percepiano19.pedal_amount": "Which take uses more pedal (a wetter sound)?",
    "percepiano19.pedal_clarity": "Which take's pedalling sounds more blurred?",
    "percepiano19.timbre_variety": "Which take has more colourful, varied tone?",
    "percepiano19.timbre_depth": "Which take has a richer, deeper tone?",
    "percepiano19.timbre_brightness": "Which take sounds darker?",
    "percepiano19.timbre_loudness": "Which take sounds louder?",
    "percepiano19.dynamic_sophistication": "Which take's dynamics sound more raw or crude?",
    "percepiano19.dynamic_range": "Which take has a larger dynamic range?",
    "percepiano19.pace": "Which take feels more slowly paced?",
    "percepiano19.space": "Which take sounds more spacious?",
    "percepiano19.balance": "Which take sounds more balanced?",
    "percepiano19.drama": "Which take is more dramatic?",
    "percepiano19.mood_valence": "Which take's mood is darker?",
    "percepiano19.mood_energy": "Which take has more energy?",
    "percepiano19.mood_imagination": "Which take is more imaginative?",
    "percepiano19.interpretation": "Which take is the more convincing interpretation?",
    "execution16.timing_stability": "Which take has the steadier pulse?",
    "execution16.tempo_control": "Which take has the more controlled tempo?",
    "execution16.rhythmic_accuracy": "Which take's rhythm is more accurate?",
    "execution16.articulation_length": "Which take is more legato (longer, connected notes)?",
    "execution16.articulation_hardness": "Which take has a harder touch?",
    "execution16.pedal_density": "Which take uses more pedal?",
    "execution16.pedal_clarity": "Which take's pedalling sounds clearer?",
    "execution16.dynamic_range": "Which take has a wider dynamic range?",
    "execution16.dynamic_control": "Which take's dynamics are more controlled?",
    "execution16.balance_melody_vs_accomp": "In which take does the melody lead more clearly?",
    "execution16.phrasing_continuity": "Which take's phrasing is more continuous?",
    "execution16.expressiveness_intensity": "Which take is more intensely expressive?",
    "execution16.energy_level": "Which take has more energy?",
    "execution16.timbre_brightness": "Which take sounds brighter?",
    "execution16.timbre_richness": "Which take has a richer tone?",
    "execution16.timbre_color_variety": "Which take has more varied tone colour?",
}


@dataclass(frozen=True)
class PairQuestion:
    """The question asked for one dimension.

    Attributes
    ----------
    dim : str
        Qualified dimension name (``taxonomy.name``), the key comparisons are stored under.
    text : str
        The question; it asks about the ``high`` end, so the chosen take is the one nearer
        the high end of the stored scale.
    low, high : str
        The dimension's descriptors (shown under the question).
    """

    dim: str
    text: str
    low: str
    high: str


def pair_question(dim: str | Dimension) -> PairQuestion:
    """Return the question for a dimension, asked about its high end.

    Parameters
    ----------
    dim : str or Dimension
        A dimension or its name (qualified ``taxonomy.name``, or a plain name that is unique
        across taxonomies).

    Returns
    -------
    PairQuestion
        A hand-worded question for the shipped taxonomies where the descriptor reads badly,
        otherwise ``Which take is closer to "<high>" (rather than "<low>")?``.

    Raises
    ------
    ParameterError
        An unknown or ambiguous dimension name.

    Examples
    --------
    >>> pair_question("percepiano19.timbre_brightness").text  # bright -> dark
    'Which take sounds darker?'
    >>> pair_question("execution16.timbre_brightness").text  # dark -> bright
    'Which take sounds brighter?'
    >>> pair_question("technical12.tone_quality").text
    'Which take is closer to “beautiful tone” (rather than “harsh or thin tone”)?'
    """
    d = dim if isinstance(dim, Dimension) else resolve_dimension(dim)
    text = _QUESTIONS.get(d.qualified_name)
    if text is None:
        text = f"Which take is closer to “{d.high}” (rather than “{d.low}”)?"
    return PairQuestion(dim=d.qualified_name, text=text, low=d.low, high=d.high)


# -- store ---------------------------------------------------------------------------------
_PAIR_SCHEMA = """
CREATE TABLE IF NOT EXISTS comparisons (
    rater_id INTEGER NOT NULL REFERENCES raters(id),
    left_id TEXT NOT NULL,
    right_id TEXT NOT NULL,
    dim TEXT NOT NULL,
    choice TEXT NOT NULL CHECK (choice IN ('left', 'right', 'same')),
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    PRIMARY KEY (rater_id, left_id, right_id, dim),
    CHECK (left_id <> right_id)
);
CREATE TABLE IF NOT EXISTS pairwise_heard (
    rater_id INTEGER NOT NULL REFERENCES raters(id),
    segment_id TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (rater_id, segment_id)
);
"""


class NotHeardError(PianoEvalError):
    """A choice was given before both takes were heard to the end.

    Attributes
    ----------
    missing : list of str
        The segment ids the rater has not heard yet.
    """

    def __init__(self, missing: Sequence[str]) -> None:
        self.missing = list(missing)
        super().__init__(
            "listen to both takes to the end before choosing; not heard yet: "
            + ", ".join(self.missing)
        )


@dataclass(frozen=True)
class Comparison:
    """One stored comparison (one rater x pair x dimension).

    Attributes
    ----------
    rater_id : int
    left_id, right_id : str
        Takes A and B as shown.
    dim : str
    choice : {'left', 'right', 'same'}
        The take nearer the dimension's high end, or ``'same'``.
    created, updated : str
        ISO 8601 UTC timestamps with microseconds.
    """

    rater_id: int
    left_id: str
    right_id: str
    dim: str
    choice: Choice
    created: str
    updated: str


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _comparison(row: sqlite3.Row) -> Comparison:
    return Comparison(
        rater_id=int(row["rater_id"]),
        left_id=str(row["left_id"]),
        right_id=str(row["right_id"]),
        dim=str(row["dim"]),
        choice=row["choice"],
        created=str(row["created"]),
        updated=str(row["updated"]),
    )


class PairStore:
    """Pairwise comparisons in the answer store's SQLite file.

    Opens (or creates) the file as an :class:`~pianoeval.label.store.AnswerStore` first, so
    raters and tokens are the answer store's, then adds two tables of its own with
    ``CREATE TABLE IF NOT EXISTS``: ``comparisons`` and ``pairwise_heard`` (which takes each
    rater has heard to the end). The answer store's tables and ``schema_version`` are never
    written. Connections use the answer store's pragmas (WAL, ``synchronous=FULL``,
    ``busy_timeout``), one per thread; every write is one committed transaction.

    Parameters
    ----------
    path : str or os.PathLike
        The answer store's database file (created when missing).

    Raises
    ------
    LabelStoreError
        The file is not a usable answer store (the message names it).

    Examples
    --------
    >>> import tempfile, os
    >>> store = PairStore(os.path.join(tempfile.mkdtemp(), "answers.sqlite"))
    >>> _, token = store.answers.add_rater("ana")
    >>> ana = store.authenticate(token)
    >>> store.mark_heard(ana, "take1"); store.mark_heard(ana, "take2")
    >>> store.save_comparison(ana, "take1", "take2", "percepiano19.drama", "left").choice
    'left'
    >>> store.close()
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.answers = AnswerStore(path)
        self.path = self.answers.path
        try:
            with self._write() as c:
                # One statement at a time: executescript() would COMMIT the open transaction.
                for statement in _PAIR_SCHEMA.split(";"):
                    if statement.strip():
                        c.execute(statement)
        except sqlite3.DatabaseError as exc:
            self.close()
            raise LabelStoreError(f"{self.path}: cannot add the pairwise tables ({exc})") from exc

    # -- connections -----------------------------------------------------------------------
    # The answer store's: one connection per thread to the same file, same pragmas.
    def _conn(self) -> sqlite3.Connection:
        return self.answers._conn()

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        return self.answers._write()

    def close(self) -> None:
        """Close every connection of the store (its answer store's)."""
        self.answers.close()

    def __enter__(self) -> PairStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- raters ----------------------------------------------------------------------------
    def authenticate(self, token: str) -> Rater | None:
        """Return the rater a token belongs to, or None (the answer store's tokens)."""
        return self.answers.authenticate(token)

    def _check_rater(self, rater: Rater) -> Rater:
        row = (
            self._conn()
            .execute("SELECT id, name, is_admin FROM raters WHERE id = ?", (int(rater.id),))
            .fetchone()
        )
        if row is None:
            raise UnknownTokenError(f"no rater with id {rater.id} in {self.path}")
        return Rater(id=int(row["id"]), name=str(row["name"]), is_admin=bool(row["is_admin"]))

    # -- heard -----------------------------------------------------------------------------
    def mark_heard(self, rater: Rater, segment_id: str) -> None:
        """Record that the rater played a take to its end (committed before returning)."""
        if not segment_id:
            raise ParameterError("segment_id must be a non-empty string")
        rater = self._check_rater(rater)
        with self._write() as c:
            c.execute(
                "INSERT INTO pairwise_heard (rater_id, segment_id, at) VALUES (?, ?, ?)"
                " ON CONFLICT (rater_id, segment_id) DO NOTHING",
                (rater.id, segment_id, _now()),
            )

    def heard_by(self, rater: Rater) -> set[str]:
        """Return the segment ids the rater has heard to the end."""
        rater = self._check_rater(rater)
        rows = self._conn().execute(
            "SELECT segment_id FROM pairwise_heard WHERE rater_id = ?", (rater.id,)
        )
        return {str(r[0]) for r in rows}

    # -- comparisons -----------------------------------------------------------------------
    def save_comparison(
        self,
        rater: Rater,
        left_id: str,
        right_id: str,
        dim: str,
        choice: str,
        *,
        require_heard: bool = True,
    ) -> Comparison:
        """Save (insert or replace) one comparison and commit it before returning.

        Parameters
        ----------
        rater : Rater
            From :meth:`authenticate`.
        left_id, right_id : str
            Takes A and B as shown (different, non-empty).
        dim : str
            Dimension key (the app uses qualified names).
        choice : {'left', 'right', 'same'}
            The take nearer the dimension's high end, or ``'same'``.
        require_heard : bool
            Refuse the choice unless the rater heard both takes to the end
            (:meth:`mark_heard`); checked in the same transaction as the write.

        Returns
        -------
        Comparison
            The stored row; saving again replaces ``choice``, keeps ``created``.

        Raises
        ------
        ParameterError
            Empty or equal ids, an empty dim, or a choice that is not left/right/same.
        NotHeardError
            ``require_heard`` and a take not heard yet.
        UnknownTokenError
            The rater is not in the store.
        """
        if not left_id or not right_id or not dim:
            raise ParameterError("left_id, right_id and dim must be non-empty strings")
        if left_id == right_id:
            raise ParameterError(f"a take cannot be compared with itself ({left_id!r})")
        if choice not in CHOICES:
            raise ParameterError(f"choice must be one of {', '.join(CHOICES)}, got {choice!r}")
        rater = self._check_rater(rater)
        now = _now()
        with self._write() as c:
            if require_heard:
                heard = {
                    str(r[0])
                    for r in c.execute(
                        "SELECT segment_id FROM pairwise_heard WHERE rater_id = ?"
                        " AND segment_id IN (?, ?)",
                        (rater.id, left_id, right_id),
                    )
                }
                missing = [s for s in (left_id, right_id) if s not in heard]
                if missing:
                    raise NotHeardError(missing)
            c.execute(
                "INSERT INTO comparisons (rater_id, left_id, right_id, dim, choice, created,"
                " updated) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (rater_id, left_id, right_id, dim) DO UPDATE SET"
                " choice = excluded.choice, updated = excluded.updated",
                (rater.id, left_id, right_id, dim, choice, now, now),
            )
            row = c.execute(
                "SELECT * FROM comparisons WHERE rater_id = ? AND left_id = ? AND right_id = ?"
                " AND dim = ?",
                (rater.id, left_id, right_id, dim),
            ).fetchone()
        return _comparison(row)

    def comparisons_of(self, rater: Rater, *, rater_id: int | None = None) -> list[Comparison]:
        """Return a rater's own comparisons (another rater's only for an admin)."""
        rater = self._check_rater(rater)
        target = rater.id if rater_id is None else int(rater_id)
        if target != rater.id and not rater.is_admin:
            raise LabelPermissionError(
                f"rater {rater.id} may not read the comparisons of rater {target}"
            )
        rows = self._conn().execute(
            "SELECT * FROM comparisons WHERE rater_id = ? ORDER BY created, left_id, right_id, dim",
            (target,),
        )
        return [_comparison(r) for r in rows]

    def all_comparisons(self, admin: Rater) -> list[Comparison]:
        """Return every rater's comparisons (admin only; :class:`LabelPermissionError`)."""
        if not self._check_rater(admin).is_admin:
            raise LabelPermissionError(
                f"reading all comparisons needs an admin token; rater {admin.id} is not one"
            )
        rows = self._conn().execute(
            "SELECT * FROM comparisons ORDER BY rater_id, created, left_id, right_id, dim"
        )
        return [_comparison(r) for r in rows]


# -- Bradley-Terry -------------------------------------------------------------------------
@dataclass(frozen=True)
class BTScore:
    """The Bradley-Terry result of one take.

    Attributes
    ----------
    strength : float
        Log-strength, centred (mean 0 over the scored takes).
    score : float
        ``1 / (1 + exp(-strength))`` in (0, 1): modelled probability of being chosen over a
        take of average strength.
    n_comparisons, wins, losses, ties : int
        Comparisons the take was in, and their outcomes for it (``ties``: ``'same'``).
    """

    strength: float
    score: float
    n_comparisons: int
    wins: int
    losses: int
    ties: int


def _triple(c: Comparison | tuple[str, str, str]) -> tuple[str, str, str]:
    if isinstance(c, Comparison):
        return c.left_id, c.right_id, c.choice
    left, right, choice = c
    return str(left), str(right), str(choice)


def bradley_terry(
    comparisons: Iterable[Comparison | tuple[str, str, str]],
    items: Sequence[str],
    *,
    alpha: float = DEFAULT_ALPHA,
    ties: Ties = "half",
) -> dict[str, BTScore]:
    """Fit a Bradley-Terry model to comparisons of one dimension within one passage.

    Parameters
    ----------
    comparisons : iterable of Comparison or (left_id, right_id, choice)
        ``choice`` is ``'left'`` or ``'right'`` (the take nearer the high end) or ``'same'``.
        Several raters' comparisons of the same pair all count.
    items : sequence of str
        The takes of the passage; every compared id must be among them.
    alpha : float
        L2 penalty per comparison (> 0): ``choix.opt_pairwise`` maximises
        ``loglik - alpha * sum(strength**2)``. It keeps strengths finite when a take wins
        every comparison or the comparison graph falls apart.
    ties : {'half', 'drop'}
        ``'half'``: a ``'same'`` is half a win for each take (every decisive comparison is
        entered twice, a tie once each way, and ``alpha`` doubled, so it stays per
        comparison); ``'drop'``: ties are ignored by the fit (still counted in ``ties``).

    Returns
    -------
    dict of str to BTScore
        One entry per take that took part in at least one comparison; takes never compared
        get none.

    Raises
    ------
    ParameterError
        ``alpha <= 0``, an unknown ``ties``, a comparison of an id not in ``items``, of a take
        with itself, or with a choice that is not left/right/same.
    BackendUnavailableError
        choix is not installed (the ``label`` extra).

    Examples
    --------
    >>> s = bradley_terry([("a", "b", "left"), ("b", "c", "left"), ("a", "c", "left")],
    ...                   ["a", "b", "c", "d"])
    >>> sorted(s, key=lambda k: -s[k].score)
    ['a', 'b', 'c']
    """
    try:
        import choix
    except ImportError as exc:
        raise BackendUnavailableError(
            "choix (Bradley-Terry fits)", "pip install 'pianoeval[label]'", str(exc)
        ) from exc

    if not (isinstance(alpha, int | float) and math.isfinite(alpha) and alpha > 0):
        raise ParameterError(f"alpha must be a finite number > 0, got {alpha!r}")
    if ties not in ("half", "drop"):
        raise ParameterError(f"ties must be 'half' or 'drop', got {ties!r}")
    known = set(items)
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    outcomes: list[tuple[str, str, str]] = []
    for c in comparisons:
        left, right, choice = _triple(c)
        for segment_id in (left, right):
            if segment_id not in known:
                raise ParameterError(f"comparison of {segment_id!r}, which is not among items")
        if left == right:
            raise ParameterError(f"a take cannot be compared with itself ({left!r})")
        if choice == "left":
            counts[left]["wins"] += 1
            counts[right]["losses"] += 1
        elif choice == "right":
            counts[right]["wins"] += 1
            counts[left]["losses"] += 1
        elif choice == "same":
            counts[left]["ties"] += 1
            counts[right]["ties"] += 1
        else:
            raise ParameterError(f"choice must be one of {', '.join(CHOICES)}, got {choice!r}")
        outcomes.append((left, right, choice))
    scored = [i for i in dict.fromkeys(items) if i in counts]
    if not scored:
        return {}
    index = {item: k for k, item in enumerate(scored)}
    data: list[tuple[int, int]] = []
    weight = 2 if ties == "half" else 1
    for left, right, choice in outcomes:
        a, b = index[left], index[right]
        if choice == "same":
            if ties == "half":
                data += [(a, b), (b, a)]
        else:
            win, lose = (a, b) if choice == "left" else (b, a)
            data += [(win, lose)] * weight
    if len(scored) == 1 or not data:
        strengths = np.zeros(len(scored))
    else:
        strengths = np.asarray(choix.opt_pairwise(len(scored), data, alpha=alpha * weight))
        strengths = strengths - strengths.mean()
    out: dict[str, BTScore] = {}
    for item, s in zip(scored, strengths, strict=True):
        n = counts[item]
        out[item] = BTScore(
            strength=float(s),
            score=float(1.0 / (1.0 + math.exp(-float(s)))),
            n_comparisons=n["wins"] + n["losses"] + n["ties"],
            wins=n["wins"],
            losses=n["losses"],
            ties=n["ties"],
        )
    return out


@dataclass(frozen=True)
class PairwiseScore:
    """One take's score on one dimension within its passage (a row of the scores export).

    Attributes
    ----------
    dim, passage, segment_id : str
    score, strength : float
        See :class:`BTScore`.
    n_comparisons, wins, losses, ties : int
    connected : bool
        Whether the passage's comparisons on this dimension connect all its compared takes;
        when not, the order between the separate groups is not measured (the penalty pulls
        both towards 0.5).
    """

    dim: str
    passage: str
    segment_id: str
    score: float
    strength: float
    n_comparisons: int
    wins: int
    losses: int
    ties: int
    connected: bool


def _components(edges: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Map each node to the smallest id of its connected component (union-find)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {x: find(x) for x in list(parent)}


def pairwise_scores(
    comparisons: Iterable[Comparison],
    passages: Mapping[str, str] | None = None,
    *,
    alpha: float = DEFAULT_ALPHA,
    ties: Ties = "half",
) -> list[PairwiseScore]:
    """Score every compared take, per dimension and per passage (all raters pooled).

    Parameters
    ----------
    comparisons : iterable of Comparison
    passages : mapping of str to str, optional
        Segment id -> passage (e.g. from the :class:`Pair` list). Without it, each connected
        group of compared takes of a dimension is a passage, named ``"group:<first id>"``
        (pairs are only ever made within a passage, so a group never spans two).
    alpha, ties
        See :func:`bradley_terry`.

    Returns
    -------
    list of PairwiseScore
        Sorted by dimension, passage, then score (highest first).

    Raises
    ------
    ParameterError
        A compared take missing from ``passages``, or a comparison across two passages.
    """
    by_dim: dict[str, list[Comparison]] = defaultdict(list)
    for c in comparisons:
        by_dim[c.dim].append(c)
    rows: list[PairwiseScore] = []
    for dim in sorted(by_dim):
        comps = by_dim[dim]
        component = _components((c.left_id, c.right_id) for c in comps)
        if passages is None:
            passage = {s: f"group:{root}" for s, root in component.items()}
        else:
            passage = {}
            for s in component:
                if s not in passages:
                    raise ParameterError(f"compared take {s!r} ({dim}) has no passage")
                passage[s] = passages[s]
        grouped: dict[str, list[Comparison]] = defaultdict(list)
        for c in comps:
            if passage[c.left_id] != passage[c.right_id]:
                raise ParameterError(
                    f"{dim}: {c.left_id!r} and {c.right_id!r} are takes of different passages "
                    f"({passage[c.left_id]!r}, {passage[c.right_id]!r})"
                )
            grouped[passage[c.left_id]].append(c)
        for name in sorted(grouped):
            takes = sorted({s for c in grouped[name] for s in (c.left_id, c.right_id)})
            connected = len({component[s] for s in takes}) == 1
            fitted = bradley_terry(grouped[name], takes, alpha=alpha, ties=ties)
            for segment_id, r in sorted(fitted.items(), key=lambda kv: (-kv[1].score, kv[0])):
                rows.append(PairwiseScore(dim, name, segment_id, **asdict(r), connected=connected))
    return rows


def scores_document(
    rows: Sequence[PairwiseScore], *, alpha: float = DEFAULT_ALPHA, ties: Ties = "half"
) -> dict[str, Any]:
    """Return the JSON document of pairwise scores (what the API and the CLI write).

    Examples
    --------
    >>> scores_document([])["model"]
    'bradley-terry'
    """
    return {
        "schema_version": SCORES_SCHEMA_VERSION,
        "model": "bradley-terry",
        "fit": "choix.opt_pairwise, L2 penalty alpha per comparison, per dimension and passage",
        "alpha": float(alpha),
        "ties": ties,
        "score": "1 / (1 + exp(-strength)); strength centred within the passage",
        "rows": [asdict(r) for r in rows],
    }
