"""The MIDI reader: sounding offsets under every pedal pattern, and honest errors on bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pretty_midi
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pianoeval.constants import PEDAL_DOWN
from pianoeval.errors import MidiError, ParameterError
from pianoeval.symbolic.midi import (
    NOTE_DTYPE,
    PEDAL_DTYPE,
    PerformanceMidi,
    load_midi,
    normalise_velocities,
    sounding_offsets,
)


def notes_of(rows: list[tuple[float, float, int, int]]) -> np.ndarray:
    return np.array(rows, dtype=NOTE_DTYPE)


def pedal_of(rows: list[tuple[float, int]]) -> np.ndarray:
    return np.array(rows, dtype=PEDAL_DTYPE)


def write_midi(
    path: Path,
    notes: list[tuple[float, float, int, int]],
    pedal: list[tuple[float, int]] = (),  # type: ignore[assignment]
) -> Path:
    pm = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(program=0)
    for on, off, pitch, vel in notes:
        piano.notes.append(pretty_midi.Note(velocity=vel, pitch=pitch, start=on, end=off))
    for t, v in pedal:
        piano.control_changes.append(pretty_midi.ControlChange(number=64, value=v, time=t))
    pm.instruments.append(piano)
    pm.write(str(path))
    return path


# --- sounding_offsets ---------------------------------------------------------------------


def test_pedal_down_and_never_up_holds_to_last_pedal_event_or_release() -> None:
    # The IndexError of issue 16: no "up" event at all.
    notes = notes_of([(0.0, 0.5, 60, 64), (1.0, 3.0, 64, 64)])
    sustain = pedal_of([(0.2, 127), (2.0, 100)])
    out = sounding_offsets(notes, sustain)
    # first note released under the pedal: held to the last pedal event (2.0 s)
    # second released at 3.0 after the last pedal event: the release is later
    np.testing.assert_allclose(out, [2.0, 3.0])


def test_pedal_only_up_events_change_nothing() -> None:
    notes = notes_of([(0.0, 0.5, 60, 64), (1.0, 1.5, 62, 64)])
    sustain = pedal_of([(0.1, 0), (1.2, 10), (4.0, 0)])
    np.testing.assert_allclose(sounding_offsets(notes, sustain), [0.5, 1.5])


def test_pedal_down_before_any_note_then_released() -> None:
    notes = notes_of([(1.0, 1.5, 60, 64), (2.0, 2.2, 62, 64)])
    sustain = pedal_of([(0.0, 127), (3.0, 0)])
    np.testing.assert_allclose(sounding_offsets(notes, sustain), [3.0, 3.0])


def test_note_released_after_pedal_up_is_not_held() -> None:
    notes = notes_of([(0.0, 1.0, 60, 64), (0.0, 3.0, 64, 64)])
    sustain = pedal_of([(0.5, 127), (2.0, 0), (2.5, 127)])
    # note 1 released at 1.0 under the pedal -> 2.0; note 2 released at 3.0 with the pedal
    # down again since 2.5 and never up -> held to the last event (2.5) or release (3.0)
    np.testing.assert_allclose(sounding_offsets(notes, sustain), [2.0, 3.0])


def test_release_exactly_at_pedal_up_is_not_extended() -> None:
    notes = notes_of([(0.0, 2.0, 60, 64)])
    sustain = pedal_of([(0.5, 127), (2.0, 0)])
    np.testing.assert_allclose(sounding_offsets(notes, sustain), [2.0])


def test_half_pedal_below_threshold_is_up() -> None:
    notes = notes_of([(0.0, 1.0, 60, 64)])
    sustain = pedal_of([(0.5, PEDAL_DOWN - 1), (3.0, 0)])
    np.testing.assert_allclose(sounding_offsets(notes, sustain), [1.0])
    sustain = pedal_of([(0.5, PEDAL_DOWN), (3.0, 0)])
    np.testing.assert_allclose(sounding_offsets(notes, sustain), [3.0])


def test_unsorted_pedal_events_are_read_in_time_order() -> None:
    notes = notes_of([(0.0, 1.0, 60, 64)])
    in_order = sounding_offsets(notes, pedal_of([(0.5, 127), (2.0, 0), (4.0, 127)]))
    shuffled = sounding_offsets(notes, pedal_of([(4.0, 127), (0.5, 127), (2.0, 0)]))
    np.testing.assert_allclose(shuffled, in_order)
    np.testing.assert_allclose(in_order, [2.0])
    reversed_ = sounding_offsets(notes, pedal_of([(2.0, 0), (0.5, 127)]))
    np.testing.assert_allclose(reversed_, [2.0])


def test_empty_inputs() -> None:
    assert sounding_offsets(notes_of([]), pedal_of([(0.0, 127)])).shape == (0,)
    np.testing.assert_allclose(sounding_offsets(notes_of([(0.0, 1.0, 60, 1)]), pedal_of([])), [1.0])


_times = st.floats(min_value=0.0, max_value=30.0, allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(
    note_rows=st.lists(
        st.tuples(_times, st.floats(min_value=0.001, max_value=5.0), st.integers(21, 108)),
        max_size=25,
    ),
    pedal_rows=st.lists(st.tuples(_times, st.integers(0, 127)), max_size=25),
)
def test_sounding_offsets_property(
    note_rows: list[tuple[float, float, int]], pedal_rows: list[tuple[float, int]]
) -> None:
    """For any event sequence: never NaN, never before the key release, never past the
    later of the last pedal event and the release, and a note released with the pedal up
    ends at its release."""
    notes = notes_of([(on, on + dur, p, 64) for on, dur, p in note_rows])
    sustain = pedal_of(pedal_rows)
    out = sounding_offsets(notes, sustain)
    release = notes["offset_sec"]
    assert out.shape == release.shape
    assert not np.isnan(out).any()
    assert np.all(out >= release)
    if len(sustain):
        assert np.all(out <= np.maximum(release, sustain["time_sec"].max()))
        # the pedal state right after each release, read directly from the events
        for r, o in zip(release, out, strict=True):
            before = sustain[sustain["time_sec"] <= r]
            if len(before) == 0:
                assert o == r
                continue
            # the last of the events at the latest time (stable order = file order)
            latest = before[before["time_sec"] == before["time_sec"].max()][-1]
            if latest["value"] < PEDAL_DOWN:
                assert o == r
            else:
                later_up = sustain[(sustain["time_sec"] > r) & (sustain["value"] < PEDAL_DOWN)]
                expect = later_up["time_sec"].min() if len(later_up) else sustain["time_sec"].max()
                assert o == max(r, expect)
    else:
        np.testing.assert_array_equal(out, release)


# --- load_midi ----------------------------------------------------------------------------


def test_load_midi_with_pedal_never_released(tmp_path: Path) -> None:
    path = write_midi(
        tmp_path / "never_up.mid",
        [(0.0, 0.5, 60, 80), (1.0, 1.5, 64, 80)],
        pedal=[(0.1, 127)],
    )
    perf = load_midi(path)
    assert perf.n_notes == 2
    # held to the later of the last pedal event (0.1) and each release: the last release
    assert perf.end_sec == pytest.approx(1.5, abs=1e-3)


def test_load_midi_end_includes_pedal_release(tmp_path: Path) -> None:
    path = write_midi(tmp_path / "held.mid", [(0.0, 0.5, 60, 80)], pedal=[(0.2, 127), (2.5, 0)])
    assert load_midi(path).end_sec == pytest.approx(2.5, abs=1e-3)


# --- bad inputs: one line naming the file and the problem ----------------------------------


def _midi_error(path: Path | str) -> str:
    with pytest.raises(MidiError) as exc:
        load_midi(path)
    assert exc.value.path == str(path)
    return str(exc.value)


def test_name_too_long(tmp_path: Path) -> None:
    assert "file name too long" in _midi_error(tmp_path / ("m" * 300 + ".mid"))
    deep = tmp_path.joinpath(*(["d" * 200] * 25), "a.mid")
    assert "path too long" in _midi_error(deep)


def test_symlink_loop_directory_missing(tmp_path: Path) -> None:
    loop = tmp_path / "loop.mid"
    loop.symlink_to(loop)
    assert "symbolic link loop" in _midi_error(loop)
    assert "is a directory, not a MIDI file" in _midi_error(tmp_path)
    assert "file does not exist" in _midi_error(tmp_path / "nope.mid")
    empty = tmp_path / "empty.mid"
    empty.write_bytes(b"")
    assert "empty file (0 bytes)" in _midi_error(empty)


def test_truncated_midi_says_so_without_a_dangling_detail(tmp_path: Path) -> None:
    whole = write_midi(tmp_path / "whole.mid", [(0.0, 0.5, 60, 80), (1.0, 1.5, 64, 80)])
    cut = tmp_path / "cut.mid"
    cut.write_bytes(whole.read_bytes()[:30])  # header and the start of a track
    message = _midi_error(cut)
    assert "corrupt or unreadable MIDI" in message
    assert "ends early (truncated)" in message
    assert "EOFError: )" not in message
    assert not message.endswith(": ")


def test_random_bytes(tmp_path: Path) -> None:
    path = tmp_path / "noise.mid"
    path.write_bytes(np.random.default_rng(3).integers(0, 256, 2000, dtype=np.uint8).tobytes())
    assert "corrupt or unreadable MIDI" in _midi_error(path)


def _perf(velocities: list[int]) -> PerformanceMidi:
    notes = np.array(
        [(0.25 * i, 0.25 * i + 0.2, 60 + i % 12, v) for i, v in enumerate(velocities)],
        dtype=NOTE_DTYPE,
    )
    pedal = np.array([(0.1, 127), (0.9, 0)], dtype=PEDAL_DTYPE)
    empty = np.array([], dtype=PEDAL_DTYPE)
    return PerformanceMidi("p.mid", notes, pedal, empty, empty, float(notes["offset_sec"].max()))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(1, 127), min_size=8, max_size=60).filter(lambda v: len(set(v)) >= 3),
    st.floats(0.4, 2.5),
    st.floats(-30, 30),
)
def test_normalise_velocities_forgets_the_piano_but_keeps_the_dynamics(
    velocities: list[int], gain: float, offset: float
) -> None:
    # another piano: the same touch transcribed louder/softer and with more or less range
    other = np.clip(np.rint(offset + gain * np.asarray(velocities, dtype=float)), 1, 127)
    if len(set(other.tolist())) < 3 or (other == 1).any() or (other == 127).any():
        return  # clipping at the MIDI limits is not an affine change
    a = normalise_velocities(_perf(velocities))
    b = normalise_velocities(_perf([int(v) for v in other]))
    va = a.notes["velocity"].astype(float)
    vb = b.notes["velocity"].astype(float)
    # both standardised (rounding and clipping at 1/127 aside) and nearly the same
    assert abs(va.mean() - 64) < 1.5
    assert abs(va.std() - 18) < 1.5
    assert np.abs(va - vb).max() <= 1 + 18 * 2 / max(np.ptp(other), 1)
    # louder notes stay louder; nothing else in the performance changes
    raw = np.asarray(velocities)
    assert (np.sign(np.subtract.outer(va, va)) * np.sign(np.subtract.outer(raw, raw)) >= 0).all()
    src = _perf(velocities)
    for f in ("onset_sec", "offset_sec", "pitch"):
        np.testing.assert_array_equal(a.notes[f], src.notes[f])
    np.testing.assert_array_equal(a.sustain, src.sustain)
    assert a.end_sec == src.end_sec
    assert a.path == src.path
    assert src.notes["velocity"].tolist() == velocities  # the input is not modified


def test_normalise_velocities_edge_cases() -> None:
    assert normalise_velocities(_perf([50] * 10)).notes["velocity"].tolist() == [64] * 10
    empty = np.array([], dtype=PEDAL_DTYPE)
    none = PerformanceMidi("e.mid", np.array([], dtype=NOTE_DTYPE), empty, empty, empty, 0.0)
    assert normalise_velocities(none).n_notes == 0
    # an outlier far below the rest is clipped at 1, never 0 or negative
    v = normalise_velocities(_perf([1] + [120] * 200)).notes["velocity"]
    assert v.min() == 1
    assert v.max() <= 127
    with pytest.raises(ParameterError, match="sd positive"):
        normalise_velocities(_perf([40, 50, 60]), sd=0)
    with pytest.raises(ParameterError, match="within 1-127"):
        normalise_velocities(_perf([40, 50, 60]), mean=200)
