from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from pianoeval.encoders import get_encoder
from pianoeval.encoders.muq import MuqEncoder, muq_problems
from pianoeval.errors import BackendUnavailableError


def test_muq_problems_name_what_is_missing() -> None:
    problems = muq_problems()
    if importlib.util.find_spec("muq") is None:
        assert "the muq package is not installed" in problems
    if importlib.util.find_spec("torchaudio") is None:
        assert any("torchaudio" in p for p in problems)


@pytest.mark.skipif(not muq_problems(), reason="the muq package runs in this environment")
def test_muq_refuses_with_the_reasons(tmp_path: Path) -> None:
    with pytest.raises(BackendUnavailableError) as info:
        MuqEncoder(tmp_path)
    message = str(info.value)
    assert "encoder 'muq' is not available" in message
    assert "pip install muq==0.1.0" in message
    for problem in muq_problems():
        assert problem in message
    with pytest.raises(BackendUnavailableError):
        get_encoder("muq", path=tmp_path)
