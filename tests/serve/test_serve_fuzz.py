"""Fuzz the API from its own OpenAPI schema (schemathesis): no input may cause a 5xx.

Small and deterministic: a fixed number of examples per operation, derandomised, so a
failure reproduces; uploads are whatever the schema allows (random bytes and names),
which must all end in a 2xx or a 4xx with a JSON error body.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")
from fastapi.testclient import TestClient  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402

from pianoeval.serve.service import dir_is_clean  # noqa: E402


def test_no_input_is_a_server_error(
    make_client: Callable[..., TestClient], upload_dir: Path
) -> None:
    client = make_client()
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {
        "/v1/evaluate",
        "/v1/report",
        "/v1/jobs",
        "/v1/jobs/{job_id}",
        "/v1/jobs/{job_id}/report",
    }
    seen: dict[str, set[int]] = {}

    for op in operations:

        @given(case=op.as_strategy())
        @settings(
            max_examples=25,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: Any) -> None:
            response = case.call()
            seen.setdefault(f"{case.method} {case.path}", set()).add(response.status_code)
            assert response.status_code < 500, (case.method, case.path, response.text)
            if response.status_code >= 400:
                body = response.json()
                assert set(body) == {"error", "detail"}
                assert "Traceback" not in body["detail"]

        fuzz()
    assert seen["POST /v1/evaluate"] - {200}  # the fuzzer did reach the checks
    assert seen["POST /v1/report"] - {200}
    client.app.state.jobs.shutdown()  # let queued jobs end, then nothing may be left
    assert not upload_dir.exists() or dir_is_clean(upload_dir)
