"""Load: 20 concurrent API clients submit 200 images to a gunicorn server while a real worker
(concurrency 2, tiny model) screens them; none is lost, none duplicated, all end final."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.db.models import Count, Q
from rest_framework.authtoken.models import Token

from screening.models import Image, Prediction, Study
from tests.factories import UserFactory
from tests.support.images import png_data
from tests.support.worker import until, worker_running

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CLIENTS = 20
IMAGES = 200
PER_STUDY = 2  # 100 studies of 2 images


def test_twenty_clients_two_hundred_images_none_lost_or_duplicated(
    tmp_path, web_server, tiny_model
):
    users = [UserFactory(username=f"load-{i}", role="clinician") for i in range(5)]
    tokens = [Token.objects.create(user=u).key for u in users]
    blobs = [png_data(seed=i, size=(128, 128)) for i in range(8)]
    server = web_server(workers=2, threads=4, **tiny_model)
    jobs = [(n, tokens[n % len(tokens)]) for n in range(IMAGES // PER_STUDY)]

    def submit(job) -> tuple[int, str]:
        n, token = job
        files = [
            ("images", (f"load-{n}-{k}.png", blobs[(n + k) % len(blobs)], "image/png"))
            for k in range(PER_STUDY)
        ]
        for attempt in range(3):
            response = requests.post(
                f"{server.url}/api/v1/studies/",
                files=files,
                headers={"Authorization": f"Token {token}"},
                timeout=60,
            )
            if response.status_code != 503 or attempt == 2:
                return response.status_code, response.text[:300]
            time.sleep(0.5)
        raise AssertionError("unreachable")

    with worker_running(log_path=tmp_path / "worker.log", concurrency=2, **tiny_model) as worker:
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            results = list(pool.map(submit, jobs))
        submit_s = time.monotonic() - started
        bad = [r for r in results if r[0] != 201]
        assert not bad, (bad[:5], server.log())

        def all_final():
            pending = Prediction.objects.filter(is_current=True).exclude(
                status__in=Prediction.FINAL_STATUSES
            )
            return not pending.exists()

        until(all_final, timeout=240, interval=1, message="all 200 predictions final")
        total_s = time.monotonic() - started
        assert worker.poll() is None
    assert "Traceback" not in server.log(), server.log()
    assert Study.objects.count() == IMAGES // PER_STUDY
    assert Image.objects.count() == IMAGES
    assert Prediction.objects.count() == IMAGES
    assert Prediction.objects.filter(is_current=True).count() == IMAGES
    assert not Image.objects.annotate(
        n=Count("predictions", filter=Q(predictions__is_current=True))
    ).exclude(n=1)
    statuses = set(Prediction.objects.values_list("status", flat=True))
    assert statuses <= {"done", "rejected"}, statuses
    assert not Prediction.objects.filter(attempts__gt=1).exists()
    assert set(Study.objects.values_list("status", flat=True)) == {"done"}
    print(f"load: submitted {IMAGES} images in {submit_s:.1f}s, all final after {total_s:.1f}s")
