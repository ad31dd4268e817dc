"""Section 4, scale: 100,000 predictions in PostgreSQL, then the case history page and API list.

Seeds 50,000 studies x 2 images, each with a current done (or gate-rejected) prediction with
label and probabilities, plus reviews (bench.seed). Then, in-process with Django's test Client
against the bench database, times each page and counts its SQL queries; for any case over
the 100 ms target the slowest query gets EXPLAIN ANALYZE.
"""

from __future__ import annotations

import os
import time
from typing import Any

from bench.common import percentiles_summarise, profile_text
from bench.seed import FEW_STUDIES, history_seed
from bench.stack import StackConfig
from bench.targets import target_limit

DEEP_PAGE = 100  # needs >= 2,500 studies (the quick run seeds 5,000)


def django_setup(*, config: StackConfig) -> None:
    """Point this process's Django at the bench database and set it up (once)."""
    import django
    from django.conf import settings

    if settings.configured:
        return
    for key in (
        "DJANGO_SETTINGS_MODULE",
        "DATABASE_URL",
        "CELERY_BROKER_URL",
        "CELERY_TASK_DEFAULT_QUEUE",
        "CELERY_RESULT_BACKEND",
        "CXR_VAR_DIR",
        "MEDIA_ROOT",
        "DEBUG",
        "ALLOWED_HOSTS",
        "API_THROTTLE_USER",
        "API_THROTTLE_SUBMIT",
        "API_THROTTLE_LOGIN",
        "API_THROTTLE_AUTH",
        "LOG_LEVEL",
    ):
        os.environ[key] = config.env()[key]
    django.setup()


def _explain(*, sql: str) -> str:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
        return "\n".join(row[0] for row in cur.fetchall())


def page_measure(*, client: Any, url: str, n: int, warmup: int = 3) -> dict[str, Any]:
    """Time GET `url` n times; count its queries once; return timings, queries and size."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    status = None
    for _ in range(warmup):
        status = client.get(url).status_code
    times, cpu = [], []
    for _ in range(n):
        t0, c0 = time.perf_counter(), time.process_time()
        resp = client.get(url)
        times.append((time.perf_counter() - t0) * 1000.0)
        cpu.append((time.process_time() - c0) * 1000.0)
        status = resp.status_code
    with CaptureQueriesContext(connection) as ctx:
        resp = client.get(url)
    queries = [{"sql": q["sql"], "ms": float(q["time"]) * 1000.0} for q in ctx.captured_queries]
    rows = None
    if resp.get("Content-Type", "").startswith("application/json"):
        data = resp.json()
        if isinstance(data, dict) and isinstance(data.get("results"), list):
            rows = len(data["results"])
    return {
        "url": url,
        "status": status,
        "ms": percentiles_summarise(values=times),
        # This process's CPU per request (Django + template/serializer, not PostgreSQL's):
        # with the SQL time it estimates the page time on an idle machine.
        "python_cpu_ms": percentiles_summarise(values=cpu),
        "queries": len(queries),
        "query_ms_total": round(sum(q["ms"] for q in queries), 2),
        "slowest_queries": sorted(queries, key=lambda q: q["ms"], reverse=True)[:3],
        "bytes": len(resp.content),
        "rows": rows,
    }


def deep_cursor_url(*, page: int, page_size: int) -> str:
    """The API list's URL whose cursor starts where counted page `page` starts."""
    import base64
    from urllib.parse import urlencode

    from screening.models import Study

    before = Study.objects.order_by("-created", "-id").values_list("created", flat=True)[
        (page - 1) * page_size - 1
    ]
    cursor = base64.b64encode(urlencode({"p": str(before)}).encode()).decode()
    return f"/api/v1/studies/?{urlencode({'cursor': cursor})}"


def history_measure(*, n: int) -> dict[str, Any]:
    """Time the web history page and the API list per role, filter and deep page.

    N+1 check: the same list for a user with a full page (25 rows) and for one with
    FEW_STUDIES rows must run the same number of queries (and API page_size 10 vs 25).
    """
    from django.test import Client

    from portal.accounts.models import User

    clients = {}
    for role, username in (
        ("reviewer", "bench-reviewer"),
        ("clinician", "bench-clinician"),
        ("few", "bench-clinician-few"),
    ):
        client = Client()
        client.force_login(User.objects.get(username=username))
        clients[role] = client
    cases = {
        "web_reviewer": ("reviewer", "/studies/"),
        "web_clinician": ("clinician", "/studies/"),
        "web_reviewer_label_covid": ("reviewer", "/studies/?label=covid"),
        "web_clinician_label_covid": ("clinician", "/studies/?label=covid"),
        "web_reviewer_deep_page": ("reviewer", f"/studies/?page={DEEP_PAGE}"),
        "api_reviewer": ("reviewer", "/api/v1/studies/"),
        "api_clinician": ("clinician", "/api/v1/studies/"),
        "api_reviewer_label_covid": ("reviewer", "/api/v1/studies/?label=covid"),
        "api_reviewer_deep_page": ("reviewer", f"/api/v1/studies/?page={DEEP_PAGE}"),
        # The same rows reached by key, as the API's `next` links lead there.
        "api_reviewer_deep_cursor": ("reviewer", deep_cursor_url(page=DEEP_PAGE, page_size=25)),
    }
    out: dict[str, Any] = {}
    for name, (role, url) in cases.items():
        out[name] = page_measure(client=clients[role], url=url, n=n)
    checks = {}
    for kind, url in (("web", "/studies/"), ("api", "/api/v1/studies/")):
        full = page_measure(client=clients["clinician"], url=url, n=1, warmup=1)
        few = page_measure(client=clients["few"], url=url, n=1, warmup=1)
        check = {
            f"queries_{FEW_STUDIES}_rows": few["queries"],
            "queries_full_page": full["queries"],
            "n_plus_one": full["queries"] > few["queries"],
        }
        if kind == "api":
            small = page_measure(client=clients["reviewer"], url=f"{url}?page_size=10", n=1)
            large = page_measure(client=clients["reviewer"], url=f"{url}?page_size=25", n=1)
            check.update(
                queries_page_size_10=small["queries"],
                queries_page_size_25=large["queries"],
                rows_page_size_10=small["rows"],
                rows_page_size_25=large["rows"],
            )
            check["n_plus_one"] = check["n_plus_one"] or large["queries"] > small["queries"]
        checks[kind] = check
    out["n_plus_one_check"] = checks
    return out


def page_profile(*, client: Any, url: str, top: int = 30) -> str:
    """Return cProfile's top functions (cumulative) over 5 GETs of `url` (Python-side cost)."""
    import cProfile

    client.get(url)
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(5):
        client.get(url)
    prof.disable()
    return profile_text(prof=prof, top=top)


# Candidate indexes tried in the throwaway bench database only (never in screening/migrations):
# each is created, the cases it targets re-timed, and dropped again.
INDEX_TRIALS = {
    "study_created_id": (
        ("CREATE INDEX bench_trial_study_created ON screening_study (created DESC, id)",),
        ("DROP INDEX IF EXISTS bench_trial_study_created",),
        ("web_reviewer", "api_reviewer", "web_reviewer_deep_page"),
    ),
}


def sql_min_ms(*, sql: str, repeats: int = 6) -> float:
    """The fastest of `repeats` EXPLAIN ANALYZE execution times of `sql` (robust to CPU noise)."""
    import json

    from django.db import connection

    times = []
    with connection.cursor() as cur:
        for _ in range(repeats):
            cur.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")
            plan = cur.fetchone()[0]
            plan = json.loads(plan) if isinstance(plan, str) else plan
            times.append(float(plan[0]["Execution Time"]))
    return min(times)


def index_trials_run(*, cases: dict[str, Any], n: int) -> dict[str, Any]:
    """Time the targeted cases with each candidate index present; return before/after p50/p95."""
    from django.db import connection
    from django.test import Client

    from portal.accounts.models import User

    clients = {}
    for role, username in (("reviewer", "bench-reviewer"), ("clinician", "bench-clinician")):
        clients[role] = Client()
        clients[role].force_login(User.objects.get(username=username))
    out = {}
    for name, (creates, drops, targets) in INDEX_TRIALS.items():
        slow_sql = {
            case: cases[case]["slowest_queries"][0]["sql"]
            for case in targets
            if cases.get(case, {}).get("status") == 200 and cases[case].get("slowest_queries")
        }
        sql_before = {case: sql_min_ms(sql=sql) for case, sql in slow_sql.items()}
        with connection.cursor() as cur:
            for sql in creates:
                cur.execute(sql)
            for table in ("screening_prediction", "screening_image", "screening_study"):
                cur.execute(f"VACUUM ANALYZE {table}")
        try:
            trial = {"sql": "; ".join(creates), "cases": {}}
            for case in targets:
                before = cases.get(case)
                if not before or before.get("status") != 200:
                    continue
                role = "clinician" if "clinician" in case else "reviewer"
                after = page_measure(client=clients[role], url=before["url"], n=n)
                slow = before["slowest_queries"][0]["sql"] if before["slowest_queries"] else None
                trial["cases"][case] = {
                    "before_ms": {k: before["ms"][k] for k in ("p50", "p95")},
                    "after_ms": {k: after["ms"][k] for k in ("p50", "p95")},
                    "slowest_query_ms_before": (before["slowest_queries"] or [{}])[0].get("ms"),
                    "slowest_query_ms_after": (after["slowest_queries"] or [{}])[0].get("ms"),
                    "sql_min_ms_before": sql_before.get(case),
                    "sql_min_ms_after": sql_min_ms(sql=slow) if slow else None,
                    "plan_after": _explain(sql=slow) if slow else None,
                }
            out[name] = trial
        finally:
            with connection.cursor() as cur:
                for sql in drops:
                    cur.execute(sql)
    return out


def history_explain(*, cases: dict[str, Any]) -> dict[str, str]:
    """EXPLAIN ANALYZE the slowest query of every case over the target; return the plans."""
    plans = {}
    for name, case in cases.items():
        if not isinstance(case, dict) or "ms" not in case:
            continue
        if case["ms"]["p95"] > target_limit(key="history_ms_p95_100k") and case["slowest_queries"]:
            sql = case["slowest_queries"][0]["sql"]
            try:
                plans[name] = f"-- {sql}\n{_explain(sql=sql)}"
            except Exception as exc:
                plans[name] = f"-- {sql}\nEXPLAIN failed: {exc!r}"
    return plans


def _worst(*, cases: dict[str, Any], prefix: str) -> float | None:
    """The worst p95 over the first-page cases that answered 200 (deep pages reported apart)."""
    p95 = [
        c["ms"]["p95"]
        for k, c in cases.items()
        if k.startswith(prefix) and "deep_page" not in k and c.get("status") == 200
    ]
    return max(p95) if p95 else None


def history_run(*, studies: int, n: int, trials: bool = True) -> dict[str, Any]:
    """Seed, measure, profile, explain, try indexes; return the figures (Django set up)."""
    from django.test import Client

    from portal.accounts.models import User

    seeded = history_seed(studies=studies)
    cases = history_measure(n=n)
    client = Client()
    client.force_login(User.objects.get(username="bench-reviewer"))
    profiles = {
        "web_reviewer": page_profile(client=client, url="/studies/"),
        "api_reviewer": page_profile(client=client, url="/api/v1/studies/"),
    }
    web = _worst(cases=cases, prefix="web_")
    api = _worst(cases=cases, prefix="api_")
    return {
        "seeded": seeded,
        "n_requests": n,
        "cases": cases,
        "web_ms_p95_worst": web,
        "api_ms_p95_worst": api,
        "explain": history_explain(cases=cases),
        "profiles": profiles,
        "index_trials": index_trials_run(cases=cases, n=max(10, n // 2)) if trials else {},
    }
