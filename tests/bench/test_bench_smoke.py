"""The bench harness imports, its statistics are right, and its report writer runs (no model)."""

from __future__ import annotations

import json
import math

import pytest

from bench import report, targets
from bench.api import study_is_final, study_outcome
from bench.common import percentiles_summarise, process_children, rss_read
from bench.options import args_parse


def _fake_results() -> dict:
    stages = {s: {"n": 200, "p50": 2.0 + i, "p95": 3.0 + i} for i, s in enumerate(targets.STAGES)}
    sample = {
        "web_workers": {"1": {"rss_mb": 110.0, "hwm_mb": 112.0}},
        "celery_children": {"2": {"rss_mb": 900.0, "hwm_mb": 950.0}},
    }
    return {
        "machine": {"cpu": "Test CPU", "cores": 2, "python": "3.11", "date": "2026-01-01"},
        "sections": {
            "model": {
                "model_name": "fake",
                "n_images": 200,
                "stages_ms": stages,
                "full_ms": {"n": 200, "p50": 20.0, "p95": 30.0},
                "batch": {
                    "batch": 16,
                    "images": 192,
                    "images_per_s": 400.0,
                    "call_ms": {"p50": 40.0},
                },
                "profile_top": "ncalls tottime ...",
                "ran_at": "now",
            },
            "baseline": {
                "model": "VGG16",
                "params": 134_000_000,
                "n_images": 30,
                "total_ms": {"p50": 800.0, "p95": 900.0},
            },
            "pipeline": {
                "low_load": {
                    "n": 30,
                    "poll_s": 0.02,
                    "latency_ms": {"p50": 300.0, "p95": 450.0},
                    "breakdown": {"task_ms": {"n": 30, "p50": 60.0, "p95": 80.0}},
                },
                "sustained": {"clients": 10, "poll_s": 0.2, "done_images_per_s": 6.0},
                "in_process": {
                    "submit_cpu_ms": {"p50": 25.0},
                    "status_poll_304_ms": {"p50": 3.0},
                },
            },
            "history": {
                "seeded": {
                    "studies": 50_000,
                    "images": 100_000,
                    "predictions": 100_000,
                    "reviews": 9_000,
                    "predictions_in_db": 100_000,
                },
                "cases": {
                    "web_reviewer": {
                        "url": "/studies/",
                        "status": 200,
                        "ms": {"p50": 40.0, "p95": 150.0},
                        "queries": 6,
                        "query_ms_total": 30.0,
                        "slowest_queries": [],
                    }
                },
                "web_ms_p95_worst": 150.0,
                "api_ms_p95_worst": 60.0,
                "explain": {"web_reviewer": "-- SELECT 1\nSeq Scan"},
            },
            "memory": {
                "samples": [{"predictions": 0, **sample}, {"predictions": 50, **sample}],
                "celery_child_hwm_mb": 950.0,
                "flat": True,
                "predictions_total": 50,
            },
        },
    }


def test_percentiles_summarise() -> None:
    s = percentiles_summarise(values=range(1, 101))
    assert s["n"] == 100
    assert s["p50"] == pytest.approx(50.5)
    assert s["p95"] == pytest.approx(95.05)
    assert (s["min"], s["max"], s["mean"]) == (1.0, 100.0, 50.5)
    assert percentiles_summarise(values=[7.0])["p95"] == 7.0
    assert math.isnan(percentiles_summarise(values=[])["p50"])


def test_summary_and_targets() -> None:
    summary = targets.summary_compute(sections=_fake_results()["sections"])
    assert summary["speedup_vs_baseline"] == pytest.approx(40.0)
    assert summary["classify_ms_p50"] == 5.0  # classify is the 4th stage: 2.0 + 3
    assert summary["pipeline_images_per_s"] == 6.0
    checks = {
        t.key: targets.target_check(target=t, value=summary.get(t.key)) for t in targets.TARGETS
    }
    assert checks["classify_ms_p50"] == "pass"
    assert checks["pipeline_images_per_s"] == "MISS"
    assert checks["history_ms_p95_100k"] == "MISS"
    assert checks["worker_rss_flat"] == "pass"
    assert checks["submit_cpu_ms_per_image"] == "pass" and checks["status_poll_ms_p50"] == "pass"
    # 100k rows and 50 predictions: the 1M and 2,000 figures did not run.
    assert checks["history_ms_p95_1m"] == checks["worker_rss_mb_2000"] == "not run"


def test_summary_at_a_million_rows_and_2000_predictions() -> None:
    sections = _fake_results()["sections"]
    sections["history"]["seeded"]["predictions_in_db"] = 1_000_400
    sections["memory"]["predictions_total"] = 2000
    summary = targets.summary_compute(sections=sections)
    assert summary["history_ms_p95_1m"] == 150.0  # the worse of web and API
    assert summary["history_ms_p95_100k"] is None
    assert summary["worker_rss_mb_2000"] == 950.0


def test_report_write(tmp_path) -> None:
    paths = report.report_write(results=_fake_results(), out_dir=tmp_path)
    data = json.loads(paths["json"].read_text())
    for key in (
        "classify_ms_p50",
        "full_ms_p50",
        "baseline_ms_p50",
        "speedup_vs_baseline",
        "pipeline_latency_ms_p50",
        "pipeline_latency_ms_p95",
        "pipeline_images_per_s",
        "history_ms_p95_100k",
        "worker_rss_mb",
        "submit_cpu_ms_per_image",
        "status_poll_ms_p50",
        "history_ms_p95_1m",
        "worker_rss_mb_2000",
        "machine",
    ):
        assert key in data
    md = paths["md"].read_text()
    assert "| classify p50 (batch 1) | 5.0 ms | <= 15.0 ms | pass |" in md
    assert "MISS" in md and "EXPLAIN ANALYZE" in md
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert report.results_load(path=paths["json"])["sections"]["model"]["model_name"] == "fake"


def test_report_handles_nothing_run(tmp_path) -> None:
    paths = report.report_write(
        results={"machine": {}, "sections": {}}, out_dir=tmp_path, plot=False
    )
    assert "not run" in paths["md"].read_text()


def test_cli_quick_counts() -> None:
    args = args_parse(["--quick", "--only", "model,history"])
    assert args.sections == ["model", "history"]
    assert args.model_n < 200 and args.history_studies < 50_000
    assert args_parse([]).model_n >= 200
    with pytest.raises(SystemExit):
        args_parse(["--only", "nonsense"])


def test_study_payload_parsing() -> None:
    queued = {"status": "processing", "images": [{"prediction": {"status": "queued"}}]}
    done = {
        "status": "done",
        "images": [
            {"prediction": {"status": "done", "label": "normal", "heatmap_url": "http://x/h"}},
            {"prediction": {"status": "rejected", "label": None, "heatmap_url": None}},
        ],
    }
    assert not study_is_final(payload=queued)
    assert study_is_final(payload=done)
    assert study_outcome(payload=done)["heatmaps"] == 1


def test_proc_readers() -> None:
    import os

    assert rss_read(pid=os.getpid())["rss_mb"] > 0
    assert rss_read(pid=2**22 + 7) is None
    assert isinstance(process_children(pid=os.getpid()), list)


def test_speedup_needs_model_and_baseline_from_one_run(tmp_path) -> None:
    results = _fake_results()
    sections = results["sections"]
    sections["model"]["run_id"] = sections["baseline"]["run_id"] = "2026-11-30T11:32:01+00:00"
    assert targets.summary_compute(sections=sections)["speedup_vs_baseline"] == pytest.approx(40.0)

    sections["model"]["run_id"] = "2026-11-30T12:00:00+00:00"  # e.g. `--only model` later on
    assert targets.summary_compute(sections=sections)["speedup_vs_baseline"] is None
    md = report.report_write(results=results, out_dir=tmp_path)["md"].read_text()
    assert "| speedup vs 2020 baseline (p50) | - | >= 10.0 x | not computed (two runs) |" in md
    assert "come from different bench runs" in md


def test_scratch_runs_write_outside_the_record() -> None:
    from bench.common import BENCH_DIR

    assert args_parse([]).out_dir == BENCH_DIR / "out"
    assert args_parse(["--record"]).out_dir == BENCH_DIR
    assert args_parse(["--report-only"]).out_dir == BENCH_DIR


def test_one_target_table_feeds_limits() -> None:
    assert targets.target_limit(key="worker_rss_mb") == 1536.0
    assert {t.section for t in targets.TARGETS} <= {
        "model",
        "baseline",
        "pipeline",
        "history",
        "memory",
    }


def test_image_source_is_described_relative_to_the_project(tmp_path) -> None:
    from bench.common import REPO_ROOT, path_describe

    assert path_describe(path=REPO_ROOT / "bench") == "bench"
    assert not path_describe(path=REPO_ROOT.parent / "shared").startswith("/")


def test_web_wait_reports_its_timeout(monkeypatch) -> None:
    import requests

    from bench import stack

    class Running:
        returncode = None

        def poll(self):
            return None

    def refuse(*args, **kwargs):
        raise requests.ConnectionError("refused")

    monkeypatch.setattr(stack.requests, "get", refuse)
    with pytest.raises(RuntimeError, match=r"within 0\.3 s"):
        stack.web_wait(base_url="http://127.0.0.1:9", process=Running(), timeout=0.3)


def test_templates_fill_nested_figures() -> None:
    from bench.render import template_render

    lines = template_render(
        name="low_load",
        data={"poll_s": 0.02, "n": 3, "latency_ms": {"p50": 12.345}, "statuses": {"done": 3}},
    )
    assert lines[0].startswith("**Low load** (1 client, 1 image at a time, poll every 20 ms): 3")
    assert "p50 12.3 ms, p95 - ms" in lines[0] and "errors None." in lines[0]


def test_sustained_label_reads_the_window() -> None:
    from bench.render import targets_render

    sections = _fake_results()["sections"]
    table = "\n".join(targets_render(summary={}, sections=sections))
    assert "sustained images/s with heatmaps, 10 clients, 1 image in flight each |" in table
    sections["pipeline"]["sustained"]["window"] = 4
    table = "\n".join(targets_render(summary={}, sections=sections))
    assert "10 clients, up to 4 images in flight each |" in table
    assert args_parse([]).client_window == 4
    assert args_parse(["--client-window", "1"]).client_window == 1


class _FakeApi:
    """An in-memory stand-in for the API: each study is final on its third status poll."""

    def __init__(self, *, broken: set[str]) -> None:
        import threading

        self.lock, self.broken = threading.Lock(), broken
        self.next_id, self.polls, self.in_flight, self.max_in_flight = 0, {}, 0, 0

    def post(self, url, **kwargs):
        with self.lock:
            self.next_id += 1
            study_id = str(self.next_id)
            self.polls[study_id] = 0
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        return _FakeResponse(201, {"id": study_id})

    def get(self, url, headers=None, **kwargs):
        study_id = url.rstrip("/").split("/")[-2 if url.endswith("status/") else -1]
        if not url.endswith("status/"):
            with self.lock:
                self.in_flight -= 1
            pred = {"status": "done", "label": "normal", "heatmap_url": "h"}
            return _FakeResponse(200, {"status": "done", "images": [{"prediction": pred}]})
        if study_id in self.broken:
            with self.lock:
                self.in_flight -= 1
            return _FakeResponse(500, {})
        self.polls[study_id] += 1
        etag = f'"{study_id}-{self.polls[study_id] >= 3}"'
        if (headers or {}).get("If-None-Match") == etag:
            return _FakeResponse(304, None)
        return _FakeResponse(200, {"final": self.polls[study_id] >= 3}, etag=etag)


class _FakeResponse:
    def __init__(self, status_code, payload, etag="") -> None:
        self.status_code, self.payload, self.headers, self.text = status_code, payload, {}, ""
        if etag:
            self.headers["ETag"] = etag

    def json(self):
        return self.payload


@pytest.mark.parametrize("window", [1, 3])
def test_clients_keep_up_to_window_studies_in_flight(monkeypatch, window) -> None:
    from types import SimpleNamespace

    from bench import api

    fake = _FakeApi(broken={"2"})
    monkeypatch.setattr(api, "api_session_open", lambda **kwargs: fake)
    images = [(f"{i}.png", b"x") for i in range(7)]
    rows, _, errors = api.images_run_concurrently(
        stack=SimpleNamespace(base_url="http://bench"),
        images=images,
        clients=1,
        poll_s=0.001,
        window=window,
    )
    assert fake.max_in_flight == window
    assert len(rows) == 6 and len(errors) == 1 and "poll failed: 500" in errors[0]
    assert set(rows[0]) == {
        *("study_id", "t0", "submit_ms", "latency_ms", "t_final", "polls"),
        *("statuses", "labels", "heatmaps"),
    }
    assert all(r["polls"] == 3 and r["statuses"] == ["done"] for r in rows)


def test_shadow_section_renders_and_links_the_twin(tmp_path) -> None:
    from bench.shadow import SHADOW_SUFFIX, shadow_render, shadow_weights_prepare
    from tests.support.stack import TINY_MODEL_DIR

    root = shadow_weights_prepare(model="tiny", weights_dir=TINY_MODEL_DIR, root=tmp_path / "w")
    twin = root / f"tiny{SHADOW_SUFFIX}"
    assert (twin / "model.keras").is_file() and (root / "tiny" / "card.json").is_file()
    run = {"final": 20, "images_per_s": 10.0, "worker_cpu_ms_per_image": 80.0}
    section = {
        "candidate": twin.name,
        "clients": 10,
        "window": 4,
        "shadow_rows": 20,
        "without_candidate": {**run, "latency_ms": {"p50": 900.0}},
        "with_candidate": {**run, "images_per_s": 6.0, "latency_ms": {"p50": 1500.0}},
        "throughput_ratio": 0.6,
    }
    md = "\n".join(shadow_render(shadow=section))
    assert "| candidate | 20 | 6.00 | 80.0 | 1500 |" in md and "is 0.60 of throughput" in md
    assert args_parse(["--quick", "--only", "shadow"]).shadow_n < args_parse([]).shadow_n
