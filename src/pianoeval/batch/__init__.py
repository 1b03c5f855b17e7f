"""Batches over many files: inputs, a runner with a local and a Dask engine, the tasks.

- :func:`expand_inputs`, :func:`collect_inputs` (:mod:`pianoeval.batch.inputs`): files,
  folders, glob patterns and manifests to the list of files a batch reads;
- :func:`run_batch`, :class:`BatchTask`, :class:`BatchReport` (:mod:`pianoeval.batch.runner`):
  one task over many items, here (``engine="local"``, the reference) or on a Dask cluster
  (``engine="dask"``), each worker setting the task up once; a bad item is a failure
  record, a global problem stops the batch;
- :class:`EvaluateTask`, :class:`TranscribeTask`, :class:`RenderTask`, :class:`EmbedTask`
  (:mod:`pianoeval.batch.tasks`);
- :class:`JsonlWriter`, :func:`write_jsonl`, :func:`read_jsonl` (:mod:`pianoeval.batch.jsonl`):
  one line per input.

Importing this package is cheap: the tasks import their models in ``setup``, and Dask is
imported only by the dask engine. See docs/batch.md.

Examples
--------
>>> from pianoeval.batch import EvaluateTask, run_batch
>>> from pianoeval.examples import example_midi_path
>>> report = run_batch([example_midi_path()], EvaluateTask(), progress=False)
>>> report.ok, len(report.results()[0]["scores"])
(True, 19)
"""

from __future__ import annotations

from pianoeval.batch.inputs import (
    MANIFEST_SUFFIXES,
    InputSet,
    NoInputError,
    collect_inputs,
    expand_inputs,
    is_glob,
)
from pianoeval.batch.jsonl import JsonlWriter, read_jsonl, write_jsonl
from pianoeval.batch.runner import (
    BATCH_SCHEMA_VERSION,
    ENGINES,
    TIMING_KEYS,
    BatchItem,
    BatchReport,
    BatchTask,
    item_path,
    run_batch,
    setup_count,
    strip_timings,
)
from pianoeval.batch.tasks import (
    EmbedTask,
    EvaluateTask,
    RenderTask,
    TranscribeTask,
    output_path,
)

__all__ = [
    "BATCH_SCHEMA_VERSION",
    "ENGINES",
    "MANIFEST_SUFFIXES",
    "TIMING_KEYS",
    "BatchItem",
    "BatchReport",
    "BatchTask",
    "EmbedTask",
    "EvaluateTask",
    "InputSet",
    "JsonlWriter",
    "NoInputError",
    "RenderTask",
    "TranscribeTask",
    "collect_inputs",
    "expand_inputs",
    "is_glob",
    "item_path",
    "output_path",
    "read_jsonl",
    "run_batch",
    "setup_count",
    "strip_timings",
    "write_jsonl",
]
