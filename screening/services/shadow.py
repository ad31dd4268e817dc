"""Shadow screens: a candidate model screens images beside the model in force.

What it says is stored as ShadowPrediction rows (one per image and model, so a re-run adds
nothing) and read only by the comparison page: no clinician page, API, export or PACS sees it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import transaction

from mlcore.errors import ImageError
from screening.models import Image, ShadowPrediction

logger = logging.getLogger(__name__)

RESCREEN_CHUNK = 8


def shadow_screen(
    *,
    candidate: str,
    images: Sequence[Image],
    items: Sequence[tuple[bytes, str]] | None = None,
) -> int:
    """Screen the images the candidate has not screened yet; return how many it screened.

    `items`: each image's (data, filename) when the caller has read them already. An image
    the candidate cannot decode stores nothing (the model in force fails it too).
    """
    from screening.inference import screener_get
    from screening.selectors import operating_point_in_force

    seen = set(
        ShadowPrediction.objects.filter(
            model_name=candidate, image_id__in=[image.id for image in images]
        ).values_list("image_id", flat=True)
    )
    todo = [n for n, image in enumerate(images) if image.id not in seen]
    if not todo:
        return 0
    chosen = [images[n] for n in todo]
    data = [items[n] for n in todo] if items is not None else _items_read(images=chosen)
    pairs = list(zip(chosen, data, strict=True))
    screener = screener_get(name=candidate)
    point = operating_point_in_force(model_name=candidate).screen_argument()
    # No heatmap: nobody sees a shadow screen, and the Grad-CAM and overlay cost a fifth of it.
    results = screener.screen_many(
        items=[item for _, item in pairs], operating_point=point, explain=False
    )
    rows = [
        _shadow_row(image=image, model_name=candidate, result=result)
        for (image, _), result in zip(pairs, results, strict=True)
        if not isinstance(result, ImageError)
    ]
    # Its own savepoint: a failed write leaves a caller's transaction usable.
    with transaction.atomic():
        ShadowPrediction.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def shadow_screen_quietly(
    *, candidate: str, images: Sequence[Image], items: Sequence[tuple[bytes, str]]
) -> int:
    """`shadow_screen`, logging instead of raising: the shadow path never fails a prediction."""
    try:
        return shadow_screen(candidate=candidate, images=images, items=items)
    except Exception:
        logger.exception("Shadow screening with %s failed", candidate)
        return 0


def _items_read(*, images: Iterable[Image]) -> list[tuple[bytes, str]]:
    items = []
    for image in images:
        with image.file.open("rb") as handle:
            items.append((handle.read(), image.original_name))
    return items


def _shadow_row(*, image: Image, model_name: str, result: Any) -> ShadowPrediction:
    # Named by the registry name it was registered under (a card may name itself otherwise).
    thresholds = result.thresholds
    return ShadowPrediction(
        image=image,
        model_name=model_name[:64],
        model_version=str(result.model_version or "")[:64],
        accepted=bool(result.accepted),
        reason="" if result.accepted else str(result.reason or "refused by the input gate"),
        label=str(result.label or "") if result.accepted else "",
        decision=str(result.decision or "") if result.accepted else "",
        operating_point=str(result.operating_point or "")[:32],
        thresholds={k: float(v) for k, v in thresholds.items()} if thresholds else None,
        probabilities=(
            {k: float(v) for k, v in result.probabilities.items()}
            if result.accepted and result.probabilities
            else None
        ),
        timings_ms={k: round(float(v), 2) for k, v in (result.timings_ms or {}).items()},
    )


def shadow_rescreen(*, candidate: str, site_slug: str | None = None) -> int:
    """Screen every reviewed image (of one site) the candidate has not screened; return how
    many rows were stored. Safe to run again: screened images are skipped."""
    from mlcore.registry import model_files_check

    model_files_check(name=candidate)
    images = (
        Image.objects.filter(predictions__reviews__isnull=False)
        .exclude(shadow_predictions__model_name=candidate)
        .distinct()
        .order_by("created", "id")
    )
    if site_slug:
        images = images.filter(study__site__slug=site_slug)
    stored = 0
    chunk: list[Image] = []
    for image in images.iterator(chunk_size=RESCREEN_CHUNK * 4):
        chunk.append(image)
        if len(chunk) == RESCREEN_CHUNK:
            stored += shadow_screen(candidate=candidate, images=chunk)
            chunk = []
    if chunk:
        stored += shadow_screen(candidate=candidate, images=chunk)
    return stored
