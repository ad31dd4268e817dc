"""Seed the scale data set of section 4: studies, images, current predictions and reviews.

bulk_create in batches, then timestamps spread over a year with one UPDATE per table, then
VACUUM so the planner and the visibility map look as they would in production.
"""

from __future__ import annotations

import hashlib
import random
import time
import uuid
from typing import Any

from bench.stack import BENCH_PASSWORD
from mlcore.labels import LABELS
from mlcore.registry import DEFAULT_MODEL_NAME

FEW_STUDIES = 3  # owned by bench-clinician-few: a short page for the N+1 check
LABEL_WEIGHTS = dict(zip(LABELS, (0.2, 0.45, 0.35), strict=True))
BATCH = 5000


def _probabilities(rng: random.Random, label: str) -> dict[str, float]:
    top = rng.uniform(0.5, 0.98)
    rest = 1.0 - top
    split = rng.uniform(0.0, rest)
    others = [name for name in LABELS if name != label]
    return {label: round(top, 4), others[0]: round(split, 4), others[1]: round(rest - split, 4)}


def _image_build(*, models: Any, study: Any, pos: int, i: int, rng: random.Random) -> Any:
    img_id = uuid.uuid4()
    return models.Image(
        id=img_id,
        study=study,
        position=pos,
        file=f"studies/{study.id}/{img_id}.jpg",
        thumbnail=f"studies/{study.id}/{img_id}-thumb.png",
        original_name=f"bench-{i}-{pos}.jpg",
        format=models.Image.Format.JPEG,
        sha256=hashlib.sha256(img_id.bytes).hexdigest(),
        size_bytes=rng.randint(8000, 40000),
        width=256,
        height=rng.randint(256, 320),
    )


def _prediction_build(*, models: Any, image: Any, rng: random.Random) -> Any:
    rejected = rng.random() < 0.03
    label = "" if rejected else rng.choices(list(LABEL_WEIGHTS), list(LABEL_WEIGHTS.values()))[0]
    status = models.Prediction.Status
    return models.Prediction(
        id=uuid.uuid4(),
        image_id=image.id,
        is_current=True,
        model_name=DEFAULT_MODEL_NAME,
        model_version="bench",
        attempts=1,
        status=status.REJECTED if rejected else status.DONE,
        reason="lateral view" if rejected else "",
        label=label,
        probabilities=None if rejected else _probabilities(rng, label),
        heatmap="" if rejected else f"studies/{image.study.id}/{image.id}-heatmap.png",
        timings_ms={"classify": 7.0, "gradcam": 1.0, "overlay": 5.0},
    )


def _study_build(
    *, models: Any, owner: Any, reviewer: Any, i: int, images: int, rng: random.Random
) -> dict[str, list]:
    """Return one study's rows by model: {"study": [...], "image": ..., "pred": ..., "review"}."""
    study = models.Study(
        id=uuid.uuid4(),
        owner=owner,
        site_id=owner.site_id,
        reference=f"BENCH-{i:06d}",
        status=models.Study.Status.DONE,
    )
    rows: dict[str, list] = {"study": [study], "image": [], "pred": [], "review": []}
    found: set[str] = set()
    for pos in range(images):
        image = _image_build(models=models, study=study, pos=pos, i=i, rng=rng)
        pred = _prediction_build(models=models, image=image, rng=rng)
        rows["image"].append(image)
        rows["pred"].append(pred)
        found.update({pred.label} - {""})
        if pred.label and rng.random() < 0.1:
            study.reviewed = True
            verdict = "agree" if rng.random() < 0.8 else "disagree"
            rows["review"].append(
                models.Review(
                    id=uuid.uuid4(),
                    prediction=pred,
                    reviewer=reviewer,
                    verdict=verdict,
                    label=pred.label,
                )
            )
    # What study_status_refresh keeps on the study, so the filters see the same data.
    study.labels = "".join(f"|{x}" for x in sorted(found)) + "|" if found else ""
    return rows


def _timestamps_spread() -> None:
    """Spread creation times over a year, derive the others from them, then VACUUM."""
    from django.db import connection

    from screening.models import Image, Prediction, Review, Study

    st, im, pr = Study._meta.db_table, Image._meta.db_table, Prediction._meta.db_table
    rv = Review._meta.db_table
    with connection.cursor() as cur:
        cur.execute(
            f"UPDATE {st} SET created = now() - random() * interval '365 days' "
            f"WHERE reference LIKE 'BENCH-%%'"
        )
        cur.execute(f"UPDATE {st} SET updated = created WHERE reference LIKE 'BENCH-%%'")
        cur.execute(
            f"UPDATE {im} i SET created = s.created FROM {st} s "
            f"WHERE i.study_id = s.id AND s.reference LIKE 'BENCH-%%'"
        )
        cur.execute(
            f"UPDATE {pr} p SET created = i.created, enqueued = i.created, "
            f"started = i.created + interval '300 ms', finished = i.created + interval '400 ms' "
            f"FROM {im} i WHERE p.image_id = i.id AND p.model_version = 'bench'"
        )
        cur.execute(
            f"UPDATE {rv} r SET created = p.finished + interval '1 day', "
            f"updated = p.finished + interval '1 day' FROM {pr} p WHERE r.prediction_id = p.id"
        )
        for table in (st, im, pr, rv):
            # FULL drops the dead row versions the UPDATEs left (realistic table sizes), then a
            # plain VACUUM sets the visibility map so index-only scans work as in production.
            cur.execute(f"VACUUM FULL {table}")
            cur.execute(f"VACUUM ANALYZE {table}")


def history_seed(*, studies: int, images_per_study: int = 2, seed: int = 0) -> dict[str, Any]:
    """Bulk-create the scale data set; return counts and how long it took."""
    from django.db import transaction

    from portal.accounts.models import User
    from portal.accounts.services import user_upsert
    from screening import models

    t0 = time.monotonic()
    rng = random.Random(seed)
    for username in ("bench-clinician-2", "bench-clinician-few"):
        user_upsert(username=username, password=BENCH_PASSWORD, role="clinician", validate=False)
    owners = list(User.objects.filter(username__in=["bench-clinician", "bench-clinician-2"]))
    few = User.objects.get(username="bench-clinician-few")
    reviewer = User.objects.get(username="bench-reviewer")
    counts = {"pred": 0, "review": 0}
    for start in range(0, studies, BATCH):
        batch: dict[str, list] = {"study": [], "image": [], "pred": [], "review": []}
        for i in range(start, min(start + BATCH, studies)):
            owner = few if i < FEW_STUDIES else owners[i % len(owners)]
            rows = _study_build(
                models=models, owner=owner, reviewer=reviewer, i=i, images=images_per_study, rng=rng
            )
            for key, objs in rows.items():
                batch[key] += objs
        with transaction.atomic():
            models.Study.objects.bulk_create(batch["study"], batch_size=BATCH)
            models.Image.objects.bulk_create(batch["image"], batch_size=BATCH)
            models.Prediction.objects.bulk_create(batch["pred"], batch_size=BATCH)
            models.Review.objects.bulk_create(batch["review"], batch_size=BATCH)
        counts["pred"] += len(batch["pred"])
        counts["review"] += len(batch["review"])
    insert_s = time.monotonic() - t0
    _timestamps_spread()
    return {
        "studies": studies,
        "images": studies * images_per_study,
        "predictions": counts["pred"],
        "reviews": counts["review"],
        "predictions_in_db": models.Prediction.objects.count(),
        "insert_s": round(insert_s, 1),
        "seed_s": round(time.monotonic() - t0, 1),
    }
