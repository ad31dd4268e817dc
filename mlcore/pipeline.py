"""Gate + classify + Grad-CAM for one image: what the Celery worker and CLI call.

CONTRACT (the screening app relies on it):

    screener = Screener.load(name=None, operating_point=None, compiled_dir=None)  # loads once;
                                         # raises ModelUnavailableError (or for an unknown point)
    result = screener.screen(data=b"...", filename="x.dcm")   # raises mlcore.errors.ImageError
    results = screener.screen_many(items=[(data, filename), ...], operating_point=None)
                                         # one classifier pass; each item a ScreenResult or
                                         # that upload's ImageError; operating_point: a name
                                         # in the card or an OperatingPoint (None: the
                                         # Screener's own, by default the card's default)
    result.accepted: bool
    result.reason: str | None            # gate's reason when refused, e.g. "lateral view"
    result.label: str | None             # "covid" | "pneumonia" | "normal" when accepted (argmax)
    result.decision: str | None          # the screening decision at the operating point
    result.operating_point: str | None   # that point's name (None: the card ships none)
    result.thresholds: dict | None       # its covid_min / pneumonia_min
    result.evidence_in_lungs: float | None   # share of Grad-CAM mass inside the lung fields
    result.evidence_outside_lungs: bool  # the "check the heatmap" flag (mlcore.evidence)
    result.probabilities: dict[str, float] | None   # calibrated, keys covid/pneumonia/normal
    result.heatmap: np.ndarray | None    # Grad-CAM (h, w) in [0, 1]
    result.overlay_jpeg: bytes | None    # heatmap over the radiograph (lung outline drawn), JPEG
    result.lung_fields: LungFields | None   # the two fields' measures (None: no segmenter)
    result.model_name / result.model_version: str
    result.timings_ms: dict[str, float]  # decode, gate, preprocess, classify, lungs, gradcam,
                                         # overlay (classify: the image's share of its batch
                                         # pass; lungs: of the wait for the lung fields after
                                         # it, the segmenter running beside it: mlcore.overlap)
                                         # (heatmap, overlay, evidence: None with explain=False)
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mlcore.card import ModelCard
from mlcore.classifier import ClassifierOutput
from mlcore.errors import ImageError, ModelUnavailableError
from mlcore.explain import explanation_make
from mlcore.gate import (
    GateDecision,
    GateThresholds,
    feature_distance,
    gate_learned_check,
    gate_rules_check,
    thresholds_from_dict,
)
from mlcore.gatemodel import GateModel, gate_model_check
from mlcore.imageio import image_decode
from mlcore.labels import GATE_LABELS
from mlcore.lungs import (
    LungFields,
    lung_box,
    lung_fields_measure,
    segmenter_input_prepare,
)
from mlcore.operating_point import (
    OperatingPoint,
    OperatingPointError,
    operating_point_pick,
    probabilities_decide,
)
from mlcore.overlap import NetworksRunner
from mlcore.parts import screener_parts_load
from mlcore.preprocess import Preprocessed, grey_channels_merge, radiograph_preprocess
from mlcore.registry import model_card_read, model_dir_resolve
from mlcore.screenresult import TIMING_KEYS, ScreenResult, gate_stats_load
from mlcore.stages import DecodedImage, StagedImage

__all__ = ["TIMING_KEYS", "ScreenResult", "Screener", "gate_stats_load"]


class Screener:
    """A loaded model plus its card; call `screen` per upload."""

    def __init__(
        self,
        *,
        classifier: Any,
        card: ModelCard,
        gate_mean: np.ndarray | None = None,
        gate_precision: np.ndarray | None = None,
        segmenter: Any = None,
        gate_model: GateModel | None = None,
        operating_point: OperatingPoint | str | None = None,
    ) -> None:
        self.classifier = classifier
        self.networks = NetworksRunner(classifier=classifier, segmenter=segmenter)
        self.card = card
        self.operating_point = self.operating_point_resolve(point=operating_point)
        self.thresholds: GateThresholds = thresholds_from_dict(data=card.gate)
        self.gate_mean = gate_mean
        self.gate_precision = gate_precision
        self.segmenter = segmenter
        self.gate_model = gate_model
        self.labels = list(card.labels)

    @classmethod
    def load(
        cls,
        *,
        name: str | None = None,
        weights_dir: Path | str | None = None,
        operating_point: OperatingPoint | str | None = None,
        compiled_dir: Path | str | None = None,
    ) -> Screener:
        """Load card, gate statistics and networks: as Keras networks (TensorFlow is imported
        here, once) or, with `compiled_dir`, as cached flatbuffers (mlcore.compiled)."""
        card = model_card_read(name=name, weights_dir=weights_dir)
        folder = model_dir_resolve(name=name, weights_dir=weights_dir)
        compiled = Path(compiled_dir) if compiled_dir else None
        parts = screener_parts_load(folder=folder, card=card, compiled_dir=compiled)
        try:
            screener = cls(card=card, operating_point=operating_point, **parts)
        except OperatingPointError as exc:
            raise ModelUnavailableError(f"model {card.name!r}: {exc}") from exc
        screener.warm_up()
        return screener

    def operating_point_resolve(
        self, *, point: OperatingPoint | str | None
    ) -> OperatingPoint | None:
        """Return `point` itself, the card's point of that name, or the card's default.

        None when the card ships no points (its screens then carry no decision); an
        unknown name raises OperatingPointError.
        """
        if isinstance(point, OperatingPoint):
            return point
        return operating_point_pick(
            points=self.card.operating_points,
            default=self.card.default_operating_point,
            name=point,
        )

    def warm_up(self) -> None:
        """Run every stage once now (tracing, lazy imports) so the first upload is not slow."""
        yy, xx = np.mgrid[0:256, 0:240].astype(np.float32)
        pixels = (np.sin(yy / 17) * np.cos(xx / 13) + 1) / 2
        gate_rules_check(pixels=pixels, thresholds=self.thresholds)
        prep = radiograph_preprocess(pixels=pixels, size=self.classifier.input_size)
        out = self.classifier.run(batch=prep.array[None])
        if self.segmenter is not None:
            lung_prep = segmenter_input_prepare(pixels=pixels)
            self.segmenter.run(batch=lung_prep.array[None])
        explanation_make(cam=out.cams[0, :, :, 0], pixels=pixels, prep=prep)

    def lungs_run(self, *, preps: Sequence[Preprocessed]) -> np.ndarray | None:
        """(B, S, S) lung probabilities of segmenter inputs; None without a segmenter."""
        if self.segmenter is None or not preps:
            return None
        return self.segmenter.run(batch=np.stack([p.array for p in preps]))

    def gate_learned_check(
        self,
        *,
        gate_probabilities: np.ndarray,
        features: np.ndarray,
        fields: LungFields | None = None,
        image_stats: dict[str, float] | None = None,
        texture: np.ndarray | None = None,
    ) -> GateDecision:
        """Judge one image by gate 2 (kinds + lung fields) or, for older models, the gate head."""
        if self.gate_model is not None and fields is not None:
            return gate_model_check(
                model=self.gate_model,
                features=features,
                fields=fields,
                image_stats=image_stats or {},
                thresholds=self.thresholds,
                texture=texture,
            )
        return gate_learned_check(
            gate_probabilities=gate_probabilities,
            gate_labels=self.card.gate_labels or [GATE_LABELS[0]],
            thresholds=self.thresholds,
            **feature_distance(
                features=features, mean=self.gate_mean, precision=self.gate_precision
            ),
        )

    def _result(self, *, timings: dict, scores: dict, **outcome: Any) -> ScreenResult:
        return ScreenResult(
            **outcome,
            model_name=self.card.name,
            model_version=self.card.version,
            timings_ms={k: round(timings.get(k, 0.0), 3) for k in TIMING_KEYS},
            gate_scores=scores,
        )

    def _refused(self, *, reason: str | None, timings: dict, scores: dict) -> ScreenResult:
        return self._result(timings=timings, scores=scores, accepted=False, reason=reason)

    def screen(self, *, data: bytes, filename: str | None = None) -> ScreenResult:
        """Decode, gate, classify and explain one upload; ImageError for undecodable input."""
        (result,) = self.screen_many(items=[(data, filename)])
        if isinstance(result, ImageError):
            raise result
        return result

    def screen_many(
        self,
        *,
        items: Sequence[tuple[bytes, str | None]],
        operating_point: OperatingPoint | str | None = None,
        explain: bool = True,
    ) -> list[ScreenResult | ImageError]:
        """Screen several uploads with one classifier pass; results come back in order.

        Each upload is decoded and gated on its own: an undecodable one comes back as its
        ImageError and the others are screened as if they had come alone. The decision is
        made at `operating_point` (None: the Screener's own). `explain=False` skips the
        Grad-CAM, its share in the lungs and the overlay (a shadow screen shows neither).
        """
        point = (
            self.operating_point
            if operating_point is None
            else self.operating_point_resolve(point=operating_point)
        )
        decoded: list[DecodedImage | ImageError] = []
        for data, _filename in items:  # the format comes from the bytes, never from the name
            t0 = time.perf_counter()
            try:
                image = image_decode(data=data)
            except ImageError as exc:
                decoded.append(exc)
                continue
            timings = {"decode": (time.perf_counter() - t0) * 1000}
            decoded.append(DecodedImage(image.pixels, image.is_colour, image.dicom, timings))
        images = [d for d in decoded if isinstance(d, DecodedImage)]
        screened = iter(self._arrays_screen(images=images, point=point, explain=explain))
        return [d if isinstance(d, ImageError) else next(screened) for d in decoded]

    def screen_array(
        self,
        *,
        pixels: np.ndarray,
        is_colour: bool | None = None,
        dicom: dict[str, str] | None = None,
        timings: dict[str, float] | None = None,
    ) -> ScreenResult:
        """Gate, classify and explain an already-decoded float [0, 1] image."""
        image = DecodedImage(pixels, is_colour, dicom, timings or {})
        return self._arrays_screen(images=[image], point=self.operating_point)[0]

    def _arrays_screen(
        self, *, images: Sequence[DecodedImage], point: OperatingPoint | None, explain: bool = True
    ) -> list[ScreenResult]:
        """Gate each image by the rules, classify the ones that pass in one batch, explain each."""
        results: list[ScreenResult | None] = [None] * len(images)
        staged: list[StagedImage] = []
        for index, image in enumerate(images):
            timings = dict(image.timings)
            pixels = grey_channels_merge(
                pixels=np.asarray(image.pixels, dtype=np.float32), is_colour=image.is_colour
            )
            t = time.perf_counter()
            rules = gate_rules_check(pixels=pixels, thresholds=self.thresholds, dicom=image.dicom)
            timings["gate"] = (time.perf_counter() - t) * 1000
            if not rules.accepted:
                results[index] = self._refused(
                    reason=rules.reason, timings=timings, scores=rules.scores
                )
                continue
            t = time.perf_counter()
            lung_prep = segmenter_input_prepare(pixels=pixels) if self.segmenter else None
            timings["preprocess"] = (time.perf_counter() - t) * 1000
            staged.append(StagedImage(index, pixels, None, timings, rules.scores, lung_prep))
        if staged:
            for s, result in zip(
                staged,
                self._staged_screen(staged=staged, point=point, explain=explain),
                strict=True,
            ):
                results[s.index] = result
        return [r for r in results if r is not None]

    def classifier_input_prepare(
        self, *, pixels: np.ndarray, lung: np.ndarray | None, lung_prep: Preprocessed | None
    ) -> Preprocessed:
        """The classifier's input: the film, or the box around its lung fields for such models."""
        box = None
        if self.card.lung_crop and lung is not None and lung_prep is not None:
            box = lung_box(probability=lung, prep=lung_prep)
        return radiograph_preprocess(pixels=pixels, size=self.classifier.input_size, box=box)

    def _staged_screen(
        self, *, staged: list[StagedImage], point: OperatingPoint | None, explain: bool
    ) -> list[ScreenResult]:
        """Segment and classify in one batch each, at once (in turn for a model that crops to
        the lung fields), then judge and explain each staged image."""
        preps = [s.lung_prep.array for s in staged if s.lung_prep is not None]
        lung_batch = np.stack(preps) if preps and self.segmenter is not None else None
        lungs, first_ms = None, 0.0
        if self.card.lung_crop and lung_batch is not None:  # the crop needs the fields first
            t = time.perf_counter()
            lungs = self.segmenter.run(batch=lung_batch)
            first_ms = (time.perf_counter() - t) * 1000
        ready = []
        for row, s in enumerate(staged):
            t = time.perf_counter()
            lung = None if lungs is None else lungs[row]
            prep = self.classifier_input_prepare(pixels=s.pixels, lung=lung, lung_prep=s.lung_prep)
            s.timings["preprocess"] += (time.perf_counter() - t) * 1000
            ready.append(s._replace(prep=prep))
        # Started only now, so that it overlaps the classifier's pass and nothing else.
        pending = None if lungs is not None else self.networks.lungs_start(lung_batch=lung_batch)
        passed = self.networks.run(batch=np.stack([s.prep.array for s in ready]), lungs=pending)
        lungs = lungs if pending is None else passed.lungs
        explained = []
        for row, s in enumerate(ready):
            # Each image is charged its share of the batch passes.
            s.timings["classify"] = passed.classify_ms / len(staged)
            s.timings["lungs"] = (first_ms + passed.lungs_ms) / len(staged)
            lung = None if lungs is None else lungs[row]
            explained.append(
                self._explain(
                    staged=s, out=passed.out, row=row, lung=lung, point=point, explain=explain
                )
            )
        return explained

    def _explain(
        self,
        *,
        staged: StagedImage,
        out: ClassifierOutput,
        row: int,
        lung: np.ndarray | None,
        point: OperatingPoint | None,
        explain: bool,
    ) -> ScreenResult:
        """Judge one classified image by the learned gate, decide, map its winning class."""
        timings = staged.timings
        t = time.perf_counter()
        fields = None
        if lung is not None and staged.lung_prep is not None:
            fields = lung_fields_measure(probability=lung, prep=staged.lung_prep)
        learned = self.gate_learned_check(
            gate_probabilities=out.gate_probabilities[row],
            features=out.features[row],
            fields=fields,
            image_stats=staged.scores,
            texture=None if out.texture is None else out.texture[row],
        )
        timings["gate"] += (time.perf_counter() - t) * 1000
        scores = {**staged.scores, **learned.scores}
        if not learned.accepted:  # the lung fields stay with the refusal: they are its evidence
            return self._result(
                timings=timings,
                scores=scores,
                accepted=False,
                reason=learned.reason,
                lung_fields=fields,
            )

        probs = out.probabilities[row]
        winner = int(np.argmax(probs))
        shown = None
        if explain:
            shown = explanation_make(
                cam=out.cams[row, :, :, winner],
                pixels=staged.pixels,
                prep=staged.prep,
                lung=lung,
                lung_prep=staged.lung_prep,
            )
            timings.update(shown.timings_ms)
        probabilities = {k: float(v) for k, v in zip(self.labels, probs, strict=True)}
        return self._result(
            timings=timings,
            scores=scores,
            accepted=True,
            label=self.labels[winner],
            decision=point and probabilities_decide(probabilities=probabilities, point=point),
            operating_point=point and point.name,
            thresholds=point and point.thresholds,
            probabilities=probabilities,
            heatmap=shown and shown.heatmap,
            overlay_jpeg=shown and shown.overlay_jpeg,
            evidence_in_lungs=shown and shown.evidence_in_lungs,
            lung_fields=fields,
        )

    def classify_batch(self, *, batch: np.ndarray | list[np.ndarray]) -> np.ndarray:
        """Calibrated (B, 3) probabilities for preprocessed (B, S, S) inputs or raw images."""
        size = self.classifier.input_size
        if (
            isinstance(batch, np.ndarray)
            and batch.ndim in (3, 4)
            and batch.shape[1:3] == (size, size)
        ):
            arr = batch
        else:
            arr = np.stack([radiograph_preprocess(pixels=p, size=size).array for p in batch])
        return self.classifier.run(batch=arr).probabilities
