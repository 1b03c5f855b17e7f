"""PercePiano: the labelled benchmark (Park et al., Scientific Reports 14:23002, 2024; MIT).

1202 performance MIDIs of passages from Beethoven WoO 80 and Schubert D935 no. 3, D960
mv. 2 and mv. 3, rated by experts on the 19 ``percepiano19`` dimensions. 1189 have labels.

File names are ``{piece}_{N}bars_{player}_{segment}``: player is the second-to-last token and
segment the last (the upstream README says the opposite; its code and labels agree with
this). An *excerpt* (one passage, several performers) is ``{piece}_{N}bars_{segment}``; a
*performer* is work + player (player tokens are reused across works); players ``Score`` and
``Score2`` are renditions made from the score.

Labels are used as released: per dimension, the mean of all valid 1-7 answers divided by 7,
so values lie in [1/7, 1]. :func:`released_means_from_raw` rebuilds them from the raw CSV
(tested to 1e-12 on all 1189), which proves the parsing of :func:`load_raw_ratings`.

Scores: one lookup, :func:`percepiano_score_paths` (``{excerpt: path}``) and
:func:`percepiano_score_path` (one segment), used by the importer, the pseudo-labels and the
rater. The canonical score of an excerpt is its ``Score`` rendition in ``midi/`` (made from
the score MIDI; what every committed figure of the rater used); ``score_midi/`` and
``score_xml/`` are alternatives. Score files are found by scanning their folder and keyed by
the excerpt their own name parses to: a file name is never rebuilt from the segment number,
whose token may carry a leading zero (``_03``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pianoeval._typing import PathLike
from pianoeval.data.report import ImportReport
from pianoeval.data.root import find_data_root
from pianoeval.dims import get_taxonomy
from pianoeval.errors import ParameterError, SchemaError

if TYPE_CHECKING:
    import pandas as pd

    from pianoeval.manifest import Segment

DATASET = "percepiano"
LICENSE = "MIT"
RATER_ID = "percepiano_panel"
MEAN_LABELS = "labels/label_2round_mean_reg_19_with0_rm_highstd0.json"
STD_LABELS = "labels/label_2round_std_reg_19_with0_rm_highstd0.json"
RAW_RATINGS = "labels/total_2rounds.csv"
#: The CSV column of each percepiano19 dimension, in label order.
CSV_COLUMNS = (
    "Question_1_1_1", "Question_2_1_1", "Question_2_2_1", "Question_3_1_1", "Question_3_2_1",
    "Question_4_1_1", "Question_4_2_1", "Question_4_3_1", "Question_4_4_1_5_2_1",
    "Question_5_3_1", "Question_5_5_1", "Question_6_1_1", "Question_6_4_1",
    "Question_6_5_1_5_4_1", "Question_6_6_1_5_1_1", "Question_7_1_1", "Question_7_2_1",
    "Question_8_1_1", "Question_9_1_1",
)  # fmt: skip
#: Raw rows with any answer above this were dropped upstream (answers run 1-7).
MAX_VALID_ANSWER = 7.1
#: Upstream's performer-split fold ids of the Beethoven players (index in this list).
BEETHOVEN_PLAYERS = ("1", "2", "3", "4", "7", "11", "14", "18", "19", "22", "24", "26")
WORKS = ("Beethoven_WoO80", "Schubert_D935_no.3", "Schubert_D960_mv2", "Schubert_D960_mv3")
#: Where each score source lies under ``percepiano/`` and its file extensions, in preference
#: order. ``midi`` (the excerpt's ``Score`` rendition) is the canonical one.
SCORE_SOURCES: dict[str, tuple[str, tuple[str, ...]]] = {
    "midi": ("midi", (".mid",)),
    "score_midi": ("score_midi", (".mid",)),
    "score_xml": ("score_xml", (".musicxml", ".xml")),
}

_NAME = re.compile(r"^(?P<piece>.+)_(?P<n_bars>\d+)bars_(?P<player>[^_]+)_(?P<segment>\d+)$")


@dataclass(frozen=True)
class PercePianoName:
    """The parts of a PercePiano segment name.

    Examples
    --------
    >>> n = parse_name("Beethoven_WoO80_var27_8bars_3_15")
    >>> n.work, n.player, n.segment, n.excerpt, n.performer
    ('Beethoven_WoO80', '3', 15, 'Beethoven_WoO80_var27_8bars_15', 'Beethoven_WoO80/3')
    """

    name: str
    piece: str
    n_bars: int
    player: str
    segment: int
    #: The segment number as written in the name (``"03"`` for ``..._03``).
    segment_token: str = ""

    @property
    def work(self) -> str:
        """One of the four works (Beethoven variations share ``Beethoven_WoO80``)."""
        return next((w for w in WORKS if self.piece.startswith(w)), self.piece)

    @property
    def composer(self) -> str:
        """Beethoven or Schubert."""
        return self.piece.split("_", 1)[0]

    @property
    def excerpt(self) -> str:
        """The passage: ``{piece}_{N}bars_{segment}``, shared by all its performers."""
        return f"{self.piece}_{self.n_bars}bars_{self.segment}"

    @property
    def performer(self) -> str:
        """Work + player token (tokens are reused across works)."""
        return f"{self.work}/{self.player}"

    @property
    def is_score_rendition(self) -> bool:
        """Players ``Score``/``Score2`` are renditions made from the score, not people."""
        return self.player in ("Score", "Score2")


def parse_name(name: str) -> PercePianoName:
    """Parse a segment name or MIDI file name (extension and stray spaces ignored)."""
    stem = Path(name.strip()).name.strip()
    for ext in (".mid", ".midi", ".wav"):
        stem = stem.removesuffix(ext)
    m = _NAME.match(stem)
    if m is None:
        raise ParameterError(f"not a PercePiano segment name: {name!r}")
    return PercePianoName(
        stem, m["piece"], int(m["n_bars"]), m["player"], int(m["segment"]), m["segment"]
    )


def percepiano_midi_paths(root: PathLike) -> dict[str, Path]:
    """Map each segment id to its MIDI file under ``<root>/percepiano/midi``.

    Go through this rather than ``f"{id}.mid"``: some released file names carry a stray
    leading space, which :func:`parse_name` strips.
    """
    midi_dir = Path(root) / DATASET / "midi"
    return {parse_name(p.name).name: p for p in sorted(midi_dir.glob("*.mid"))}


def percepiano_score_paths(
    data_root: PathLike | None = None, *, source: str = "midi"
) -> dict[str, Path]:
    """Return the score of every PercePiano excerpt that has one in ``source``.

    Scans the source folder for ``{piece}_{N}bars_Score_{segment}`` files (``Score2``
    variants and the whole-piece ``beethoven_woo80_score2`` are not excerpt scores) and keys
    each by the excerpt its name parses to, so ``..._Score_03`` serves the excerpt of
    ``..._{player}_03``: no file name is rebuilt from a segment number.

    Parameters
    ----------
    data_root : path-like, optional
        The data root holding ``percepiano/`` (default: :func:`find_data_root`).
    source : {"midi", "score_midi", "score_xml"}
        ``midi`` (default, canonical): the excerpt's ``Score`` rendition in ``midi/``, the
        score every committed rater figure used; ``score_midi``: the score MIDI (byte-identical
        to the rendition for 96 of the 99 labelled excerpts); ``score_xml``: the MusicXML.

    Returns
    -------
    dict of str to Path
        ``{excerpt: score path}`` (``PercePianoName.excerpt`` keys).

    Raises
    ------
    ParameterError
        If ``source`` is not one of the three.
    SchemaError
        If two files in the folder name the same excerpt (``_3`` and ``_03``).
    DataRootError
        If there is no PercePiano data root.

    Examples
    --------
    >>> percepiano_score_paths(source="audio")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    pianoeval.errors.ParameterError: unknown PercePiano score source 'audio'; use one of ...
    """
    folder, exts = _score_source(source)
    base = find_data_root(data_root, dataset=DATASET) / DATASET / folder
    found: dict[str, tuple[int, Path]] = {}
    for path in sorted(base.glob("*")):
        name = path.name.strip()
        rank = next((k for k, ext in enumerate(exts) if name.endswith(ext)), None)
        if rank is None:
            continue
        try:
            parsed = parse_name(name.removesuffix(exts[rank]))
        except ParameterError:
            continue  # the whole-piece score and other non-excerpt files
        if parsed.player != "Score":
            continue
        prev = found.get(parsed.excerpt)
        if prev is not None:
            if prev[1].name.strip().removesuffix(exts[prev[0]]) != parsed.name:
                raise SchemaError(
                    f"{base}: {prev[1].name!r} and {path.name!r} are both the score of "
                    f"excerpt {parsed.excerpt!r}"
                )
            if prev[0] <= rank:
                continue  # the same stem with a less preferred extension
        found[parsed.excerpt] = (rank, path)
    return {excerpt: path for excerpt, (_, path) in sorted(found.items())}


def percepiano_score_path(
    segment_id: str, data_root: PathLike | None = None, *, source: str = "midi"
) -> Path | None:
    """Return the score of one PercePiano segment (its excerpt's), or None if it has none.

    Parameters
    ----------
    segment_id : str
        A segment name or MIDI file name (``Beethoven_WoO80_var27_8bars_3_15``).
    data_root, source
        As in :func:`percepiano_score_paths`, which this looks the excerpt up in (call that
        once for many segments).

    Raises
    ------
    ParameterError
        If ``segment_id`` is not a PercePiano name, or ``source`` is unknown.

    Examples
    --------
    >>> percepiano_score_path("Beethoven_var27.mid")
    Traceback (most recent call last):
    ...
    pianoeval.errors.ParameterError: not a PercePiano segment name: 'Beethoven_var27.mid'
    """
    excerpt = parse_name(segment_id).excerpt
    _score_source(source)
    return percepiano_score_paths(data_root, source=source).get(excerpt)


def _score_source(source: str) -> tuple[str, tuple[str, ...]]:
    try:
        return SCORE_SOURCES[source]
    except KeyError:
        raise ParameterError(
            f"unknown PercePiano score source {source!r}; use one of {sorted(SCORE_SOURCES)}"
        ) from None


def load_released_labels(root: PathLike) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Read the released mean and std labels: ``{name: array(19)}`` each (std may be empty)."""
    base = Path(root) / DATASET
    means_raw = _read_json(base / MEAN_LABELS)
    std_path = base / STD_LABELS
    stds_raw = _read_json(std_path) if std_path.is_file() else {}
    means = {k: np.asarray(v[:19], dtype=np.float64) for k, v in means_raw.items()}
    stds = {k: np.asarray(v[:19], dtype=np.float64) for k, v in stds_raw.items()}
    return means, stds


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SchemaError(f"{path}: missing (see docs/data.md for the PercePiano layout)") from None
    except json.JSONDecodeError as e:
        raise SchemaError(f"{path}: bad JSON: {e}") from None
    if not isinstance(data, dict):
        raise SchemaError(f"{path}: expected an object of name -> values")
    return data


def raw_key(filename: str) -> str:
    """Map a raw CSV file name to its label key, following upstream's recipe.

    ``.wav`` is dropped, ``_score`` becomes ``_Score``, and upstream's renames to ``Score2``
    are applied (Beethoven WoO 80 ``Score`` segments 5-16, Schubert D935 no. 3 4-bar
    ``Score`` segment 1).
    """
    key = filename.strip().removesuffix(".wav").replace("_score", "_Score")
    n = parse_name(key)
    if n.player == "Score" and (
        (n.work == "Beethoven_WoO80" and 5 <= n.segment <= 16)
        or (n.piece == "Schubert_D935_no.3" and n.n_bars == 4 and n.segment == 1)
    ):
        key = f"{n.piece}_{n.n_bars}bars_Score2_{n.segment_token}"
    return key


def load_raw_ratings(root: PathLike, *, drop_invalid_rows: bool = True) -> pd.DataFrame:
    """Load the raw ratings as a long per-rater table.

    Parameters
    ----------
    root : path-like
        The data root (holding ``percepiano/``).
    drop_invalid_rows : bool
        Drop every CSV row with an answer above 7.1, as upstream did (63 of 65 raters remain).

    Returns
    -------
    pandas.DataFrame
        Columns ``row`` (CSV row number, so repeated submissions stay distinct), ``rater``,
        ``segment`` (label key), ``dimension`` (percepiano19 name), ``answer`` (1-7).
        Missing answers (empty or 0) are left out.
    """
    import pandas as pd

    path = Path(root) / DATASET / RAW_RATINGS
    if not path.is_file():
        raise SchemaError(f"{path}: missing (see docs/data.md for the PercePiano layout)")
    df = pd.read_csv(path, dtype={"user": str, "filename": str})
    missing = [c for c in ("user", "filename", *CSV_COLUMNS) if c not in df.columns]
    if missing:
        raise SchemaError(f"{path}: missing columns {missing}")
    answers = df[list(CSV_COLUMNS)].apply(pd.to_numeric, errors="coerce")
    keep = (
        ~(answers > MAX_VALID_ANSWER).any(axis=1)
        if drop_invalid_rows
        else answers.notna().any(axis=1)
    )
    wide = answers[keep].copy()
    wide.columns = get_taxonomy("percepiano19").names
    wide.insert(0, "segment", [raw_key(f) for f in df.loc[keep, "filename"]])
    wide.insert(0, "rater", df.loc[keep, "user"].str.strip().to_numpy())
    wide.insert(0, "row", df.index[keep] + 2)  # 1-based, after the header line
    long = wide.melt(id_vars=["row", "rater", "segment"], var_name="dimension", value_name="answer")
    long = long[long["answer"].notna() & (long["answer"] > 0)]
    order = {d: i for i, d in enumerate(get_taxonomy("percepiano19").names)}
    long = long.assign(dim_index=long["dimension"].map(order))
    return (
        long.sort_values(["segment", "dim_index", "row"])
        .drop(columns="dim_index")
        .reset_index(drop=True)
    )


def released_means_from_raw(ratings: pd.DataFrame) -> dict[str, np.ndarray]:
    """Rebuild the released mean labels: every valid answer averaged (repeats included) / 7."""
    names = get_taxonomy("percepiano19").names
    table = ratings.pivot_table(
        index="segment", columns="dimension", values="answer", aggfunc="mean"
    )
    table = table.reindex(columns=names)
    return {seg: row.to_numpy(dtype=np.float64) / 7.0 for seg, row in table.iterrows()}


def per_rater_answers(ratings: pd.DataFrame) -> pd.DataFrame:
    """Average each rater's repeated answers to a segment: one answer per rater, segment, dim."""
    return ratings.groupby(["segment", "dimension", "rater"], as_index=False, sort=False)[
        "answer"
    ].mean()


def build_percepiano_manifest(
    data_root: PathLike | None,
    out: PathLike,
    *,
    progress: bool = True,
) -> ImportReport:
    """Write the manifest of the 1189 labelled PercePiano segments.

    Each row carries the 19 released labels (mean rating / 7), the mask, ``label_std``
    (sample std, ddof=1, of the per-rater answers with each rater's repeats averaged
    first, / 7), ``n_raters`` (distinct raters), performer, work, excerpt,
    is_score_rendition, the licence, ``midi_uri``, ``score_uri`` (the excerpt's canonical
    score, :func:`percepiano_score_paths`), and ``t0 = 0``, ``t1`` = end of the last sounding
    note (pedal included). MIDIs without a label are reported with the reason, labelled rows
    whose excerpt has no score in a note.
    """
    from pianoeval.manifest import Provenance, Segment, path_to_uri, write_manifest
    from pianoeval.symbolic.midi import load_midi

    root = find_data_root(data_root, dataset=DATASET)
    out_path = Path(out)
    means, _ = load_released_labels(root)
    ratings = load_raw_ratings(root)
    per_rater = per_rater_answers(ratings)
    std = (per_rater.groupby(["segment", "dimension"])["answer"].std(ddof=1) / 7.0).to_dict()
    n_raters = ratings.groupby("segment")["rater"].nunique().to_dict()
    names = get_taxonomy("percepiano19").names
    midis = sorted((root / DATASET / "midi").glob("*.mid"), key=lambda p: p.name.strip())
    scores = percepiano_score_paths(root)

    skipped: list[tuple[str, str]] = []
    no_score: list[str] = []
    segments: list[Segment] = []
    iterator = _progress(midis, progress, "PercePiano MIDIs")
    for midi in iterator:
        try:
            name = parse_name(midi.name)
        except ParameterError as e:
            skipped.append((midi.name, str(e)))
            continue
        key = name.name
        if key not in means:
            skipped.append((midi.name, _why_unlabelled(name, means)))
            continue
        perf = load_midi(midi)
        score = scores.get(name.excerpt)
        if score is None:
            no_score.append(key)
        labels: dict[str, float | None] = {
            d: float(v) for d, v in zip(names, means[key], strict=True)
        }
        segments.append(
            Segment(
                segment_id=key,
                dataset=DATASET,
                midi_uri=path_to_uri(midi, out_path.parent),
                score_uri=path_to_uri(score, out_path.parent) if score else None,
                t0=0.0,
                t1=round(perf.end_sec, 6),
                bars=None,
                taxonomy="percepiano19",
                dims=list(names),
                labels=labels,
                label_mask=dict.fromkeys(names, 1),
                label_std={
                    d: float(std[(key, d)]) for d in names if np.isfinite(std.get((key, d), np.nan))
                },
                n_raters=int(n_raters[key]),
                rater_id=RATER_ID,
                source="human",
                provenance=Provenance.model_validate(
                    {
                        "license": LICENSE,
                        "piece": name.piece,
                        "composer": name.composer,
                        "performer": name.performer,
                        "work": name.work,
                        "excerpt": name.excerpt,
                        "player": name.player,
                        "segment": name.segment,
                        "n_bars": name.n_bars,
                        "is_score_rendition": name.is_score_rendition,
                    }
                ),
                groups={"excerpt": name.excerpt, "performer": name.performer, "work": name.work},
            )
        )
    missing = sorted(set(means) - {s.segment_id for s in segments})
    notes = [f"label without a MIDI file: {k}" for k in missing]
    notes += [f"no score for {k} (excerpt {parse_name(k).excerpt})" for k in no_score]
    n = write_manifest(out_path, segments)
    return ImportReport(
        manifest_path=str(out_path), n_rows=n, n_sources=len(midis), skipped=skipped, notes=notes
    )


def _why_unlabelled(name: PercePianoName, means: dict[str, np.ndarray]) -> str:
    if name.player == "Score":
        twin = f"{name.piece}_{name.n_bars}bars_Score2_{name.segment_token}"
        if twin in means:
            return f"score rendition without a label: upstream moved its ratings to {twin}"
        return "score rendition without a label in the released labels"
    return "no label in the released labels"


def _progress(items: list[Path], enabled: bool, desc: str) -> Any:
    if not enabled:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, unit="file", leave=False)
