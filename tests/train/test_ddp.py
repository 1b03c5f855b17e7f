"""DDP through config: the debug config trains with 2 CPU processes (gloo) and exits."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_ddp_two_cpu_processes_train_and_write_one_bundle(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    for key in ("LOCAL_RANK", "NODE_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    cmd = [
        sys.executable,
        "-m",
        "pianoeval.train.run",
        "train",
        "debug=default",
        "trainer=ddp",
        f"paths.output_dir={tmp_path}",
        "trainer.enable_progress_bar=false",
        "test=false",
    ]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    assert "GLOBAL_RANK: 1" in log
    assert "distributed_backend=gloo" in log
    assert "Starting with 2 processes" in log
    assert proc.stdout.count("bundle:") == 1  # only rank 0 writes the bundle
    assert (tmp_path / "bundle" / "model.safetensors").is_file()
    assert (tmp_path / "checkpoints" / "best.ckpt").is_file()
    # validation metrics are computed on the rows of both processes (gathered)
    metrics = (next(tmp_path.glob("csv/version_*")) / "metrics.csv").read_text()
    assert "val/mae_percepiano19.d0" in metrics
    assert "val/human_mae" in metrics
