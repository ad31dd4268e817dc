"""No Docker engine runs here: parse docker-compose.yml and check it points at things that exist."""

import importlib
import re
import shlex
from pathlib import Path

import pytest
import yaml

from tests.support.services import REPO_ROOT

COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
DOCKERFILE = (REPO_ROOT / "Dockerfile").read_text()
SETTINGS_SOURCE = "".join(p.read_text() for p in (REPO_ROOT / "portal/settings").glob("*.py"))


def command_of(service: str) -> list[str]:
    command = SERVICES[service]["command"]
    return shlex.split(command) if isinstance(command, str) else list(command)


def test_stack_has_every_service_with_pinned_major_versions():
    assert {"db", "redis", "minio", "web", "worker"} <= set(SERVICES)
    assert SERVICES["db"]["image"] == "postgres:16"
    assert SERVICES["redis"]["image"] == "redis:7"
    assert SERVICES["minio"]["image"].startswith("minio/minio")


@pytest.mark.parametrize("service", ["db", "redis", "minio", "web", "worker"])
def test_each_long_running_service_has_a_healthcheck(service):
    check = SERVICES[service]["healthcheck"]
    assert check.get("test") and not check.get("disable")


def test_web_and_worker_share_one_dockerfile():
    assert SERVICES["web"]["build"] == SERVICES["worker"]["build"] == "."
    assert "requirements/production.txt" in DOCKERFILE
    assert (REPO_ROOT / "requirements/production.txt").exists()
    for line in (REPO_ROOT / "requirements/production.txt").read_text().splitlines():
        if line.startswith("-r "):
            assert (REPO_ROOT / "requirements" / line[3:].strip()).exists()


def test_one_container_migrates_then_web_runs_gunicorn_on_the_wsgi_app():
    assert command_of("migrate") == ["python", "manage.py", "migrate", "--noinput"]
    assert SERVICES["migrate"]["restart"] == "no"
    for service in ("web", "worker", "beat"):
        needs = SERVICES[service]["depends_on"]
        assert needs["migrate"] == {"condition": "service_completed_successfully"}, service
    entrypoint = REPO_ROOT / command_of("web")[0]
    assert entrypoint.exists() and entrypoint.stat().st_mode & 0o111
    text = entrypoint.read_text()
    assert "manage.py migrate" not in text  # N replicas must not migrate at once
    match = re.search(r"gunicorn (\S+):(\w+) --config (\S+)", text)
    module, attribute, config = match.groups()
    assert (REPO_ROOT / config).exists()
    assert (REPO_ROOT / (module.replace(".", "/") + ".py")).exists()
    assert f"{attribute} =" in (REPO_ROOT / (module.replace(".", "/") + ".py")).read_text()


def _replicas(service: str) -> int:
    value = str(SERVICES[service]["deploy"]["replicas"])
    match = re.fullmatch(r"\$\{\w+:-(\d+)\}|(\d+)", value)
    return int(match.group(1) or match.group(2))


def test_web_replicas_sit_behind_one_address():
    assert _replicas("web") >= 2 and _replicas("worker") >= 3
    for service in ("web", "worker"):
        assert "ports" not in SERVICES[service] and "container_name" not in SERVICES[service]
    lb = SERVICES["lb"]
    assert lb["ports"] == ["8000:8000"] and lb["depends_on"]["web"]
    source, target = lb["volumes"][0].split(":")[:2]
    assert target == "/etc/nginx/nginx.conf"
    config = (REPO_ROOT / source).read_text()
    assert re.search(r"upstream web \{\s*server web:8000", config)
    assert "proxy_pass http://web;" in config
    orthanc_env = SERVICES["orthanc"]["environment"]
    assert orthanc_env["CXR_PORTAL_DICOMWEB_URL"].startswith("http://lb:8000/")


def test_exactly_one_beat_and_the_schedule_lives_in_settings():
    assert _replicas("beat") == 1
    assert command_of("beat")[:4] == ["celery", "-A", "portal", "beat"]
    assert "CELERY_BEAT_SCHEDULE = {" in SETTINGS_SOURCE
    assert "beat_schedule" not in (REPO_ROOT / "portal" / "celery.py").read_text()


def test_every_replica_keeps_media_on_s3_and_shares_only_the_services():
    for service in ("web", "worker", "beat", "migrate"):
        env = SERVICES[service]["environment"]
        assert env["AWS_STORAGE_BUCKET_NAME"] and env["AWS_S3_ENDPOINT_URL"] == "http://minio:9000"
        assert not SERVICES[service].get("volumes"), f"{service} must not share a disk"
        assert env["CACHE_URL"].startswith("redis://redis:6379/")  # one rate count for all
    assert set(COMPOSE["volumes"]) == {"pgdata", "redisdata", "miniodata", "orthancdata"}


def test_worker_runs_the_portal_celery_app_and_can_scale():
    command = command_of("worker")
    assert command[:4] == ["celery", "-A", "portal", "worker"]
    assert importlib.import_module("portal.celery").app.main == "cxrscreen"
    assert "container_name" not in SERVICES["worker"]  # `--scale worker=N` needs free names
    assert "ports" not in SERVICES["worker"]


def test_app_settings_point_at_the_compose_services():
    env = SERVICES["web"]["environment"]
    settings_module = env["DJANGO_SETTINGS_MODULE"]
    assert (REPO_ROOT / (settings_module.replace(".", "/") + ".py")).exists()
    assert "@db:5432/" in env["DATABASE_URL"]
    assert env["CELERY_BROKER_URL"].startswith("redis://redis:6379")
    assert env["AWS_S3_ENDPOINT_URL"] == "http://minio:9000"
    for name in env:
        if name != "DJANGO_SETTINGS_MODULE":
            assert f'"{name}"' in SETTINGS_SOURCE, f"settings never read {name}"
    for dependency, condition in SERVICES["web"]["depends_on"].items():
        assert dependency in SERVICES
        assert condition["condition"] in {"service_healthy", "service_completed_successfully"}


def test_compose_file_has_no_hardcoded_secret_key():
    text = (REPO_ROOT / "docker-compose.yml").read_text()
    assert "${SECRET_KEY:?" in text
    assert Path(REPO_ROOT / ".gitignore").read_text().count(".env") >= 1
