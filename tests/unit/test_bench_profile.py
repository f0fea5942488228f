"""bench/profile_serve.py's reading of py-spy's collapsed stacks: each sample in the bucket of
its innermost frame that names one, the shares adding up to the samples taken."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.profile_serve import bucket_of, leaf, read_collapsed, report

PROCESS = 'process 7:"python -m suite_authz.cli.main serve --decision-log /tmp/d.jsonl"'
STACKS = f"""{PROCESS};answer_raw (suite_authz/server/fastpath.py:55);Recorder.record (suite_authz/server/recording.py:60);_line (suite_authz/engine/serving/decision_log.py:350) 5
{PROCESS};answer_raw (suite_authz/server/fastpath.py:55);RequestResponseCycle.send (uvicorn/protocols/http/httptools_impl.py:461) 3
{PROCESS};Engine.decide (suite_authz/engine/core/decide.py:180);is_authorized_batch (cedarpy/__init__.py:90) 2
{PROCESS} 1
"""  # noqa: E501


def test_each_sample_goes_to_its_innermost_named_bucket(tmp_path: Path) -> None:
    raw = tmp_path / "stacks.txt"
    raw.write_text(STACKS)
    samples = read_collapsed(raw)
    assert [n for _, n in samples] == [5, 3, 2, 1]
    buckets = [bucket_of(stack) for stack, _ in samples]
    assert buckets == [
        "decision log (line, mask, write)",  # not the server glue that called it
        "HTTP (uvicorn, httptools, h11)",
        "Cedar (cedarpy)",
        "other",  # the process frame alone: no Python frame to name
    ]
    assert leaf(samples[2][0]) == "is_authorized_batch (cedarpy/__init__.py)"


def test_no_samples_is_no_report(tmp_path: Path) -> None:
    raw = tmp_path / "stacks.txt"
    raw.write_text("")
    with pytest.raises(SystemExit, match="no samples"):
        report(read_collapsed(raw), 5)
