"""The bench's PACS round-trip section renders its figures into RESULTS.md."""

from __future__ import annotations

from bench.options import SECTIONS, args_parse
from bench.pacs import pacs_render
from bench.report import markdown_render

PACS = {
    "dicomweb": {"n": 10, "median_s": 0.52, "min_s": 0.5, "max_s": 2.1, "result_series_back": [3]},
    "dimse": {"n": 10, "median_s": 1.06, "min_s": 0.8, "max_s": 1.4, "result_series_back": [3]},
    "images_source": "../shared/data/cxr (2247 images, 22 used)",
}


def test_pacs_is_a_section_of_its_own():
    assert "pacs" in SECTIONS and args_parse(["--only", "pacs"]).sections == ["pacs"]


def test_pacs_section_renders_both_paths():
    lines = "\n".join(pacs_render(pacs=PACS))
    assert "| DICOMweb: STOW-RS in, STOW-RS out | 10 | 0.52 | 0.5 | 2.1 | 3 |" in lines
    assert "| DIMSE: C-STORE in and out | 10 | 1.06 | 0.8 | 1.4 | 3 |" in lines
    results = {"machine": {}, "sections": {"pacs": PACS}, "summary": {}}
    assert "## PACS round trip" in markdown_render(results=results)
