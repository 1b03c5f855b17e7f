"""Load test of the REST API: concurrent clients rating a small MIDI on loopback.

Starts ``pianoeval serve`` (uvicorn, default settings: one rating at a time) in a child
process on a free loopback port, waits for ``/healthz``, warms it with a few requests,
then runs ``--clients`` threads (each with its own httpx client) that share
``--requests`` ``POST /v1/evaluate`` calls of one small MIDI (40 notes, 16 s, made here).
It reports requests per second, latency p50/p95/max, the error count (any status other
than 200, or a failed connection: must be 0), and the server's resident memory (VmRSS
of the server process) before the first request, after the warm-up, after half of the
requests and after all of them (stable: the second half must not grow it by more than
``--rss-growth-mb``). Writes ``benchmarks/results/api_load/<date>_<sha>.json``.

    .venv/bin/python benchmarks/api_load.py [--clients 8] [--requests 200] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pretty_midi
from _common import sha256_files, write_result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"no VmRSS for process {pid}")


def write_midi(path: Path, n_notes: int = 40, step_sec: float = 0.4) -> Path:
    pm = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(program=0)
    inst.notes = [
        pretty_midi.Note(55 + i % 25, 60 + (i * 5) % 12, i * step_sec, i * step_sec + 0.35)
        for i in range(n_notes)
    ]
    pm.instruments.append(inst)
    pm.write(str(path))
    return path


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=8)
    ap.add_argument("--workers", type=int, default=1, help="pianoeval serve --workers")
    ap.add_argument(
        "--threads", type=int, default=1, help="OpenMP/BLAS threads of the server (default 1)"
    )
    ap.add_argument("--rss-growth-mb", type=float, default=30.0)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        midi = write_midi(Path(tmp) / "load.mid")
        data = midi.read_bytes()
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "PIANOEVAL_SERVE_TMP_DIR": str(Path(tmp) / "uploads"),
            "PIANOEVAL_SERVE_THREADS": str(args.threads),
        }
        code = "from pianoeval.cli import main; main()"
        server = subprocess.Popen(
            [sys.executable, "-c", code, "serve", "--port", str(port),
             "--workers", str(args.workers), "--log-level", "warning"],
            env=env,
        )  # fmt: skip
        try:
            t_start = time.perf_counter()
            while True:
                if server.poll() is not None:
                    raise SystemExit("the server exited during start-up")
                try:
                    if httpx.get(base + "/healthz", timeout=1.0).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.perf_counter() - t_start > 120:
                    raise SystemExit("the server did not start in 120 s")
                time.sleep(0.2)
            startup_sec = time.perf_counter() - t_start
            rss = {"start": rss_mb(server.pid)}

            def one(client: httpx.Client) -> tuple[float, int | str]:
                t0 = time.perf_counter()
                try:
                    r = client.post(
                        base + "/v1/evaluate", files={"file": ("load.mid", data, "audio/midi")}
                    )
                    status: int | str = r.status_code
                    if r.status_code == 200 and len(r.json()["scores"]) != 19:
                        status = "bad body"
                except httpx.HTTPError as e:
                    status = type(e).__name__
                return time.perf_counter() - t0, status

            with httpx.Client(timeout=120) as c:
                for _ in range(args.warmup):
                    one(c)
            rss["after_warmup"] = rss_mb(server.pid)

            lock = threading.Lock()
            issued = 0
            latencies: list[float] = []
            failures: list[Any] = []
            half = args.requests // 2
            half_event = threading.Event()

            def client_loop() -> None:
                nonlocal issued
                with httpx.Client(timeout=120) as c:
                    while True:
                        with lock:
                            if issued >= args.requests:
                                return
                            issued += 1
                        dt, status = one(c)
                        with lock:
                            latencies.append(dt)
                            if status != 200:
                                failures.append(status)
                            if len(latencies) == half:
                                rss["after_half"] = rss_mb(server.pid)
                                half_event.set()

            load_before = os.getloadavg()[0]
            t0 = time.perf_counter()
            threads = [threading.Thread(target=client_loop) for _ in range(args.clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - t0
            load_after = os.getloadavg()[0]
            rss["after_all"] = rss_mb(server.pid)
            leftovers = list((Path(tmp) / "uploads").glob("pianoeval-serve-*"))
        finally:
            server.terminate()
            server.wait(timeout=30)
        digest = sha256_files([midi])

    growth = rss["after_all"] - rss["after_half"]
    payload = {
        "config": {
            "clients": args.clients,
            "requests": args.requests,
            "warmup_requests": args.warmup,
            "server": f"pianoeval serve --workers {args.workers} (uvicorn, one process)",
            "server_threads": args.threads,
            "input": "one MIDI made by the script: 40 notes over 16 s",
            "input_sha256": digest,
            "endpoint": "POST /v1/evaluate (multipart)",
        },
        "note": (
            "timings from this 2-core machine, shared with long background jobs while it "
            "ran (see loadavg_1min): read them as a lower bound of what the service does "
            "on an idle machine, not as its capacity"
        ),
        "startup_sec": round(startup_sec, 2),
        "wall_sec": round(wall, 2),
        "requests_per_sec": round(args.requests / wall, 2),
        "latency_sec": {
            "p50": round(statistics.median(latencies), 3),
            "p95": round(pct(latencies, 0.95), 3),
            "max": round(max(latencies), 3),
        },
        "errors": len(failures),
        "error_kinds": sorted({str(f) for f in failures}),
        "server_rss_mb": rss,
        "rss_growth_second_half_mb": round(growth, 1),
        "rss_stable": growth <= args.rss_growth_mb,
        "temp_folders_left": len(leftovers),
        "loadavg_1min": {"before": load_before, "after": load_after},
    }
    print(
        f"{args.requests} requests, {args.clients} clients: {payload['requests_per_sec']} req/s, "
        f"p50 {payload['latency_sec']['p50']} s, p95 {payload['latency_sec']['p95']} s, "
        f"errors {len(failures)}, RSS MB {rss}, temp folders left {len(leftovers)}"
    )
    if not args.no_write:
        print(write_result("api_load", payload))
    ok = not failures and payload["rss_stable"] and not leftovers
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
