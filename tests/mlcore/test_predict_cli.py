"""python -m mlcore.predict: JSON lines, refused files, unreadable files, exit codes."""

from __future__ import annotations

import json

import pytest

from mlcore.testing import arrays, files
from tests.support.cli import module_run


def run_predict(args, weights_dir):
    env = {"CXR_WEIGHTS_DIR": str(weights_dir)}
    return module_run(
        module="mlcore.predict", args=[*args, "--model", "tiny"], env=env, timeout=300
    )


@pytest.mark.slow
def test_predict_json_lines(tmp_path, tiny_weights_dir, toy_png):
    good, doc, bad = tmp_path / "chest.png", tmp_path / "doc.png", tmp_path / "bad.png"
    good.write_bytes(toy_png)
    doc.write_bytes(files.png_bytes(pixels=arrays.document_image(size=(300, 220), seed=1)))
    bad.write_bytes(b"not an image at all")
    heat = tmp_path / "heat"
    proc = run_predict([good, doc, bad, "--json", "--heatmap-dir", heat], tiny_weights_dir)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [rec["file"] for rec in lines] == [str(good), str(doc), str(bad)]
    ok, refused, broken = lines
    assert ok["accepted"] is True and ok["label"] in ok["probabilities"]
    assert set(ok["probabilities"]) == {"covid", "pneumonia", "normal"}
    assert ok["model"].startswith("tiny@") and ok["ms"] > 0
    assert refused["accepted"] is False and refused["reason"] == "document or screenshot"
    assert "label" not in refused
    assert "error" in broken and "accepted" not in broken
    assert (heat / "chest.overlay.jpg").is_file()


@pytest.mark.slow
def test_predict_all_unreadable_exits_1(tmp_path, tiny_weights_dir):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff truncated")
    proc = run_predict([bad, "--json"], tiny_weights_dir)
    assert proc.returncode == 1
    assert "error" in json.loads(proc.stdout.splitlines()[0])


@pytest.mark.slow
def test_predict_missing_model_exits_2(tmp_path):
    proc = run_predict([tmp_path / "x.png", "--json"], tmp_path)
    assert proc.returncode == 2 and "not found" in proc.stderr
