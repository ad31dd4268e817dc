"""Count what became of every submitted image, read straight from the database and media.

An image is final when its current prediction is done, rejected, or failed with a reason;
duplicated when two done predictions of one model exist for it, or when a client's one
submission (one reference, resent after a lost answer) was stored as two studies; a file is
half-written when it is in the media store but no row names it, or a row names a file that is
missing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import psycopg2

FINAL = ("done", "rejected")


@dataclass(frozen=True)
class Ledger:
    submitted: int
    final: int
    lost: int
    duplicated: int
    failed: int


def _rows(*, database_url: str, sql: str, params: tuple) -> list[tuple]:
    connection = psycopg2.connect(database_url, connect_timeout=5)
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    finally:
        connection.close()


IMAGES_SQL = """
SELECT i.id, s.id::text, s.reference, p.status, p.reason,
       (SELECT count(*) FROM screening_prediction d
         WHERE d.image_id = i.id AND d.status = 'done'
         GROUP BY d.model_name, d.model_version ORDER BY count(*) DESC LIMIT 1)
FROM screening_image i
JOIN screening_study s ON s.id = i.study_id
LEFT JOIN screening_prediction p ON p.image_id = i.id AND p.is_current
WHERE s.reference LIKE %s OR s.id::text = ANY(%s)
"""

PACS_IMAGES_SQL = IMAGES_SQL.replace(
    "WHERE s.reference LIKE %s OR s.id::text = ANY(%s)",
    "JOIN pacs_pacsstudylink l ON l.study_id = s.id WHERE l.study_instance_uid = ANY(%s)",
)


def images_ledger(*, database_url: str, tag: str, accepted: list[str]) -> Ledger:
    """Count the images of studies whose reference starts with `tag`, or that clients were
    told were accepted (`accepted`, study ids; one missing from the database is lost)."""
    rows = _rows(database_url=database_url, sql=IMAGES_SQL, params=(f"{tag}-%", accepted))
    missing = len(set(accepted) - {row[1] for row in rows})
    return _ledger_of(rows=rows, missing=missing)


def pacs_ledger(*, database_url: str, study_uids: list[str], delivered: set[str]) -> Ledger:
    """Count the images sent over STOW-RS: final only once their results reached the PACS."""
    rows = _rows(database_url=database_url, sql=PACS_IMAGES_SQL, params=(study_uids,))
    return _ledger_of(rows=rows, missing=0, delivered=delivered)


def _ledger_of(*, rows: list[tuple], missing: int, delivered: set[str] | None = None) -> Ledger:
    final = failed = duplicated = 0
    studies_of: dict[str, set[str]] = {}
    for _image, study, reference, status, reason, done_count in rows:
        studies_of.setdefault(reference, set()).add(study)
        ended = status in FINAL or (status == "failed" and bool(reason))
        if delivered is not None:
            ended = ended and study in delivered
        final += ended
        failed += status == "failed"
        duplicated += (done_count or 0) > 1
    duplicated += sum(len(studies) - 1 for studies in studies_of.values())
    submitted = len(rows) + missing
    return Ledger(
        submitted=submitted,
        final=final,
        lost=submitted - final,
        duplicated=duplicated,
        failed=failed,
    )


def pending_count(*, database_url: str, tag: str) -> int:
    """Images of `tag` whose current prediction is not final yet (-1 when unreadable)."""
    sql = """
    SELECT count(*) FROM screening_image i JOIN screening_study s ON s.id = i.study_id
    JOIN screening_prediction p ON p.image_id = i.id AND p.is_current
    WHERE s.reference LIKE %s AND p.status IN ('queued', 'running')
    """
    try:
        return int(_rows(database_url=database_url, sql=sql, params=(f"{tag}-%",))[0][0])
    except psycopg2.Error:
        return -1


def status_counts(*, database_url: str, tag: str) -> dict[str, int]:
    """How many images of `tag` ended in each status."""
    sql = """
    SELECT p.status, count(*) FROM screening_image i JOIN screening_study s ON s.id = i.study_id
    JOIN screening_prediction p ON p.image_id = i.id AND p.is_current
    WHERE s.reference LIKE %s GROUP BY p.status
    """
    return dict(_rows(database_url=database_url, sql=sql, params=(f"{tag}-%",)))


def pacs_delivered(*, database_url: str, study_uids: list[str]) -> set[str]:
    """Study ids (portal) whose PACS results were sent for their current predictions."""
    sql = """
    SELECT l.study_id::text FROM pacs_pacsstudylink l
    WHERE l.study_instance_uid = ANY(%s) AND l.results_sent IS NOT NULL
    """
    try:
        return {row[0] for row in _rows(database_url=database_url, sql=sql, params=(study_uids,))}
    except psycopg2.Error:
        return set()


def half_written_files(*, database_url: str, media_root: Path) -> list[str]:
    """Files under studies/ that no row names, and names whose file is missing.

    A heatmap's values file (beside its overlay) is named by the heatmap's row; it is not
    required, since a result from before values were kept has none.
    """
    from screening.storage import heatmap_values_name

    sql = """
    SELECT file FROM screening_image UNION SELECT thumbnail FROM screening_image
    UNION SELECT heatmap FROM screening_prediction
    """
    named = {row[0] for row in _rows(database_url=database_url, sql=sql, params=()) if row[0]}
    values = {heatmap_values_name(heatmap_name=name) for name in named}
    on_disk = set()
    for folder, _dirs, files in os.walk(media_root / "studies"):
        for name in files:
            on_disk.add(str((Path(folder) / name).relative_to(media_root)))
    return sorted((on_disk - values) ^ named)
