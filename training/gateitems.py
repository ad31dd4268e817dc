"""What gate 2 learns from: every film and negative run once through trunk and segmenter."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from mlcore.gate import gate_rules_check, rule_scores
from mlcore.gatemodel import EVIDENCE_COUNT, FRONTAL_KIND, gate_evidence
from mlcore.lungs import lung_fields_measure, segmenter_input_prepare
from mlcore.preprocess import grey_channels_merge
from training.data import hash_split, table_read
from training.negatives import GATE_KIND_OF, negatives_generate
from training.screenpass import file_decode

BATCH = 32
OOD_LISTS = ("metadata.csv", "more/metadata.csv")
SYNTHETIC = {"train": (1000, 200), "val": (2000, 60)}


@dataclass
class GateItems:
    """Per item: trunk features, lung features, the rules' verdict, kind, source and split."""

    features: np.ndarray  # (N, K)
    evidence: np.ndarray  # (N, E): lung-field measures and image statistics
    rule_refused: np.ndarray  # (N,) bool
    kinds: np.ndarray  # (N,) str: FRONTAL_KIND or a negative kind
    sources: np.ndarray  # (N,) str
    splits: np.ndarray  # (N,) str
    readable: np.ndarray  # (N,) bool: decoded (an unreadable file has zero features)
    texture: np.ndarray | None = None  # (N, T): the classifier's texture rows (None: none)

    @property
    def negative(self) -> np.ndarray:
        return self.kinds != FRONTAL_KIND

    def subset(self, mask: np.ndarray) -> GateItems:
        return GateItems(
            *(
                None if getattr(self, f) is None else getattr(self, f)[mask]
                for f in self.__dataclass_fields__
            )
        )


def chest_rows(*, data: list[Path]) -> list[tuple[Path, str, str]]:
    """(path, source, split) of every labelled chest film of the data folders."""
    out = []
    for root in data:
        for row in table_read(root=root).rows:
            out.append((root / row["file"], row.get("source") or root.name, row["split"]))
    return out


def ood_rows(*, ood: Path) -> list[tuple[Path, str, str, str]]:
    """(path, kind, source, split) of both ood lists; a patient or volume stays on one side."""
    out = []
    for name in OOD_LISTS:
        csv_path = ood / name
        if not csv_path.is_file():
            continue
        table = table_read(root=csv_path.parent, csv_path=csv_path)
        for row in table.rows:
            split = hash_split(key=row.get("group") or row["file"])
            out.append((table.root / row["file"], row["kind"], row["source"], split))
    return out


def items_featurise(*, screener: Any, items: list[tuple[Any, ...]], desc: str) -> tuple:
    """Trunk features, lung features and rule verdicts of decoded (pixels, colour, dicom)."""
    n = len(items)
    feats = np.zeros((n, 0), np.float32)
    texture = None
    evidence = np.zeros((n, EVIDENCE_COUNT), np.float32)
    refused = np.zeros(n, bool)
    readable = np.array([it[0] is not None for it in items])
    for start in tqdm(range(0, n, BATCH), desc=desc, unit="batch"):
        idx = [i for i in range(start, min(n, start + BATCH)) if readable[i]]
        if not idx:
            continue
        greys, lung_preps, stats = [], [], []
        for i in idx:
            pixels, is_colour, dicom = items[i]
            px = grey_channels_merge(pixels=pixels, is_colour=is_colour)
            refused[i] = not gate_rules_check(
                pixels=px, thresholds=screener.thresholds, dicom=dicom
            ).accepted
            greys.append(px)
            stats.append(rule_scores(pixels=px))
            lung_preps.append(segmenter_input_prepare(pixels=px))
        probs = screener.lungs_run(preps=lung_preps)
        preps = [
            screener.classifier_input_prepare(pixels=px, lung=probs[j], lung_prep=lung_preps[j])
            for j, px in enumerate(greys)
        ]
        out = screener.classifier.run(batch=np.stack([p.array for p in preps]))
        if feats.shape[1] == 0:
            feats = np.zeros((n, out.features.shape[1]), np.float32)
            if out.texture is not None:
                texture = np.zeros((n, out.texture.shape[1]), np.float32)
        for j, i in enumerate(idx):
            feats[i] = out.features[j]
            if texture is not None:
                texture[i] = out.texture[j]
            fields = lung_fields_measure(probability=probs[j], prep=lung_preps[j])
            evidence[i] = gate_evidence(fields=fields, image_stats=stats[j])
    return feats, evidence, refused, readable, texture


def gate_items_collect(*, screener: Any, data: list[Path], ood: Path) -> GateItems:
    """Featurise the chest films, both ood lists and generated negatives."""
    chest = chest_rows(data=data)
    negatives = ood_rows(ood=ood)
    items = [file_decode(path=p) for p, *_ in tqdm(chest + negatives, desc="decode")]
    kinds = [FRONTAL_KIND] * len(chest) + [k for _, k, _, _ in negatives]
    sources = [s for _, s, _ in chest] + [s for _, _, s, _ in negatives]
    splits = [s for *_, s in chest] + [s for *_, s in negatives]
    for split, (seed, n) in SYNTHETIC.items():
        for kind, pixels in negatives_generate(n=n, seed=seed):
            items.append((pixels, None, {}))
            kinds.append(GATE_KIND_OF.get(kind, "other"))
            sources.append(f"synthetic-{kind}")
            splits.append(split)
    feats, evidence, refused, readable, texture = items_featurise(
        screener=screener, items=items, desc="gate"
    )
    # A file the portal cannot decode is refused before the gate: it stays, marked refused,
    # so that each source's refuse rate counts all of its images.
    return GateItems(
        feats,
        evidence,
        refused | ~readable,
        np.array(kinds),
        np.array(sources),
        np.array(splits),
        readable,
        texture,
    )


def gate_items_save(*, items: GateItems, path: Path) -> None:
    """Keep featurised items so that the gate can be refitted without the networks."""
    fields = GateItems.__dataclass_fields__
    np.savez_compressed(
        path, **{f: getattr(items, f) for f in fields if getattr(items, f) is not None}
    )


def gate_items_load(*, path: Path) -> GateItems:
    with np.load(path, allow_pickle=False) as z:
        return GateItems(*(z[f] if f in z.files else None for f in GateItems.__dataclass_fields__))
