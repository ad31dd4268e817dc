"""The input gate on negatives: held-out ood kinds, generated images, non-radiograph DICOM."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.data import get_testdata_file
from tqdm import tqdm

from mlcore.testing.arrays import negative_samples, tiny_image
from training.gateitems import ood_rows
from training.screenpass import file_decode, items_screen


def negatives_collect(
    *, ood: Path | None, seed: int = 7
) -> tuple[list[tuple], list[str], list[str]]:
    """Negative items + kind + group ('ood-heldout', 'ood-train', 'synthetic', 'dicom')."""
    items, kinds, groups = [], [], []
    if ood is not None:
        # Both lists: the first set and the kinds added later (ood/more).
        for path, kind, source, split in tqdm(ood_rows(ood=ood), desc="ood decode", unit="img"):
            items.append(file_decode(path=path))
            kinds.append(f"{kind}/{source}")
            groups.append("ood-heldout" if split == "test" else f"ood-{split}")
    for kind, pixels in negative_samples(n=60, seed=seed, size=(320, 256)):
        items.append((pixels, pixels.ndim == 3, {}))
        kinds.append(f"synthetic/{kind}")
        groups.append("synthetic")
    for i in range(4):
        items.append((tiny_image(size=(24 + 8 * i, 32), seed=i), False, {}))
        kinds.append("synthetic/tiny")
        groups.append("synthetic")
    for name in ("CT_small.dcm", "MR_small.dcm"):
        items.append(file_decode(path=Path(get_testdata_file(name))))
        kinds.append(f"dicom/{name}")
        groups.append("dicom")
    return items, kinds, groups


def gate_negatives_report(*, screener: Any, ood: Path | None) -> dict[str, Any]:
    """Refuse rates on negatives, overall, by group and by kind."""
    items, kinds, groups = negatives_collect(ood=ood)
    if not items:
        return {}
    s = items_screen(screener=screener, items=items, desc="gate negatives")
    refused = ~s.accepted
    by_group = {
        g: {
            "n": int(sum(1 for x in groups if x == g)),
            "refused": float(refused[np.array(groups) == g].mean()),
        }
        for g in sorted(set(groups))
    }
    by_kind = {k: float(refused[np.array(kinds) == k].mean()) for k in sorted(set(kinds))}
    held = np.array([g != "ood-train" and g != "ood-val" for g in groups])
    # Rules + feature distance never saw a negative: a fair figure for unseen kinds.
    unseen = s.rule_refused | s.maha_refused
    kinds_arr = np.array(kinds)
    return {
        "n": len(items),
        "refused_all": float(refused.mean()),
        "refused_excluding_gate_training_part": float(refused[held].mean()) if held.any() else None,
        "by_group": by_group,
        "by_kind": by_kind,
        "refused_by_rules_or_distance_only_by_kind": {
            k: float(unseen[kinds_arr == k].mean()) for k in sorted(set(kinds))
        },
        "reasons": dict(Counter(str(r) for r in s.reasons)),
    }
