from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from pianoeval.cli import _Commands
from pianoeval.cli.embed import embed
from pianoeval.encoders import get_encoder, load_embeddings


@pytest.fixture
def app() -> typer.Typer:
    """The command as the root app registers it (errors mapped to exit codes there)."""
    app = typer.Typer(cls=_Commands, pretty_exceptions_enable=False)
    app.command("embed")(embed)

    @app.callback()
    def _root() -> None:
        """Root."""

    return app


def test_embed_writes_the_npz(
    app: typer.Typer, manifest: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIANOEVAL_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "e.npz"
    args = ["embed", str(manifest), "--encoder", "mel_stats", "--out", str(out), "-j", "1"]
    result = CliRunner().invoke(app, [*args, "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "3 segments x 256" in result.output
    ids, x, meta = load_embeddings(out)
    assert ids == ["a", "b", "c"]
    assert meta["encoder"] == "mel_stats"
    assert meta["version"] == get_encoder("mel_stats").version
    direct = get_encoder("mel_stats").embed_file(manifest.parent / "clip0.wav", t0=0.5, t1=2.0)
    np.testing.assert_array_equal(x[2], direct)
    assert any((tmp_path / "cache" / "embeddings").rglob("*.npy"))
    # default output name beside the manifest
    default = ["embed", str(manifest), "-e", "mel_stats", "-j", "1", "--no-progress"]
    result = CliRunner().invoke(app, default)
    assert result.exit_code == 0, result.output
    assert (manifest.parent / "m.mel_stats.npz").is_file()


@pytest.mark.parametrize(
    ("extra", "code", "message"),
    [
        (["--encoder", "wav2vec"], 2, "not an encoder"),
        (["--encoder", "mel_cnn"], 2, "trainable"),
        (["--encoder", "mel_stats", "-o", "novalue"], 2, "KEY=VALUE"),
        (["--encoder", "mel_stats", "-o", "layers=[1]"], 2, "bad options"),
        (["--encoder", "mert", "-o", "path=/nonexistent/mert"], 1, "no such checkpoint"),
    ],
)
def test_exit_codes(
    app: typer.Typer, manifest: Path, extra: list[str], code: int, message: str
) -> None:
    result = CliRunner().invoke(app, ["embed", str(manifest), *extra, "--no-progress"])
    assert result.exit_code == code, result.output
    assert message in result.output


def test_bad_manifest_is_exit_1(app: typer.Typer, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"segment_id": "x"}\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["embed", str(bad), "-e", "mel_stats"])
    assert result.exit_code == 1, result.output
