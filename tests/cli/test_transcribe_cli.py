"""``pianoeval transcribe`` on a short clip rendered in the test (FluidR3, the Debian SoundFont).

One transkun transcription runs for the module (the transcription cache is shared by the
tests); the rest are cache hits or refusals made before any work.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.cli._util import flat
from typer.testing import CliRunner

from pianoeval.cli import app

runner = CliRunner()

pytestmark = pytest.mark.backend

#: (pitch, onset_sec): an arpeggio up and down, 0.3 s apart, under two sustain-pedal presses.
NOTES = [(p, 0.3 * i) for i, p in enumerate([60, 64, 67, 72, 67, 64, 60, 62, 65, 69, 65, 62])]
PEDAL = [(0.0, 127), (1.7, 0), (1.8, 127), (3.5, 0)]


def _missing_backend() -> str | None:
    from pianoeval.render import get_soundfont
    from pianoeval.symbolic.transcribe import get_backend

    if not get_backend("transkun").is_available():
        return "transkun is not installed (scripts/setup.sh)"
    try:
        import fluidsynth  # noqa: F401
    except (ImportError, OSError) as e:
        return f"pyfluidsynth/libfluidsynth missing ({e})"
    if not get_soundfont("fluidr3_gm").path.is_file():
        return "the FluidR3 SoundFont is missing (fluid-soundfont-gm)"
    return None


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A 4.5 s rendered clip with pedal, and a module-wide transcription cache."""
    reason = _missing_backend()
    if reason:
        pytest.skip(reason)
    import pretty_midi
    import soundfile as sf

    from pianoeval.render import render_midi

    folder = tmp_path_factory.mktemp("clip")
    pm = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(program=0)
    inst.notes = [pretty_midi.Note(80, p, t, t + 0.25) for p, t in NOTES]
    inst.control_changes = [pretty_midi.ControlChange(64, v, t) for t, v in PEDAL]
    pm.instruments.append(inst)
    pm.write(str(folder / "arpeggio.mid"))
    y, sr = render_midi(folder / "arpeggio.mid", soundfont="fluidr3_gm", sr=44100)
    sf.write(folder / "arpeggio.wav", y, sr)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PIANOEVAL_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield folder / "arpeggio.wav"


def test_transcribe_writes_a_readable_midi_with_notes_and_pedal(clip: Path, tmp_path: Path) -> None:
    from pianoeval.symbolic.midi import load_midi

    bad = tmp_path / "in" / "broken.wav"
    bad.parent.mkdir()
    bad.write_bytes(b"RIFF....WAVEfmt nonsense")
    out = tmp_path / "midi"
    jsonl = tmp_path / "t.jsonl"
    r = runner.invoke(
        app, ["transcribe", str(bad), str(clip), "--out", str(out), "--jsonl", str(jsonl)]
    )
    assert r.exit_code == 1, r.output  # the broken file; the clip is still transcribed
    assert f"error: {bad}" in r.stderr
    perf = load_midi(out / "arpeggio.mid")
    assert perf.n_notes == pytest.approx(len(NOTES), abs=2)
    assert len(perf.sustain) >= 2  # the pedal the input MIDI had, as CC64
    assert set(perf.sustain["value"].tolist()) >= {0, 127}
    assert f"{out / 'arpeggio.mid'}: {perf.n_notes} notes" in r.stdout
    assert not (out / "broken.mid").exists()
    records = {x["path"]: x for x in map(json.loads, jsonl.read_text().splitlines())}
    assert records[str(bad)]["ok"] is False
    res = records[str(clip)]["result"]
    assert res["midi_path"] == str(out / "arpeggio.mid")
    assert res["n_notes"] == perf.n_notes
    assert res["n_sustain_events"] == len(perf.sustain)
    assert res["seconds"] > 0
    # the file is there now: refused without --force, nothing touched; replaced with it
    before = (out / "arpeggio.mid").read_bytes()
    again = runner.invoke(app, ["transcribe", str(clip), "--out", str(out)])
    assert again.exit_code == 1
    assert "already exists (pass --force to replace it)" in again.stderr
    assert (out / "arpeggio.mid").read_bytes() == before
    forced = runner.invoke(app, ["transcribe", str(clip.parent / "*.wav"),
                                 "--out", str(out), "--force"])  # fmt: skip
    assert forced.exit_code == 0, forced.output
    assert "cached" in forced.stdout
    assert (out / "arpeggio.mid").read_bytes() == before


def test_usage_errors_before_any_work(clip: Path, tmp_path: Path) -> None:
    twin = tmp_path / "other" / "arpeggio.wav"
    twin.parent.mkdir()
    twin.write_bytes(clip.read_bytes())
    out = tmp_path / "midi"
    clash = runner.invoke(app, ["transcribe", str(clip), str(twin), "--out", str(out)])
    assert clash.exit_code == 2
    assert "same name would write the same MIDI file" in flat(clash.output)
    assert not out.exists()
    assert runner.invoke(app, ["transcribe", str(clip), "--out", str(clip)]).exit_code == 2
    nope = runner.invoke(app, ["transcribe", str(clip), "--out", str(out), "--backend", "x"])
    assert nope.exit_code == 2
    sched = runner.invoke(app, ["transcribe", str(clip), "--out", str(out), "--scheduler", "a"])
    assert sched.exit_code == 2
    nothing = runner.invoke(app, ["transcribe", str(tmp_path / "*.flac"), "--out", str(out)])
    assert nothing.exit_code == 1
    assert "the pattern matches no file" in nothing.stderr


def test_help_is_instant() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from pianoeval.cli import app; "
        "bad = [m for m in ('torch', 'distributed', 'lightgbm') if m in sys.modules]; "
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
