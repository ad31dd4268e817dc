"""A part that is down is told to the user as a 503 with Retry-After, never a bare 500; a
write that fails part way leaves no half-written file."""

from __future__ import annotations

import errno
import json
import resource
import signal

import pytest
from django.core.files.storage import FileSystemStorage
from django.db import OperationalError

from portal.outage import DATABASE_DOWN, STORAGE_FULL, outage_of
from portal.views import server_error
from screening.storage import storage_save


def _answer_to(exc: BaseException, *, path: str, rf):
    """Answer as Django does: handler500 called while the exception is being handled."""
    try:
        raise exc
    except BaseException:
        return server_error(rf.get(path))


def test_database_down_api_answer_is_503_json_with_retry_after(rf):
    response = _answer_to(OperationalError("server closed the connection"), path="/api/v1/", rf=rf)
    assert response.status_code == 503
    assert response["Retry-After"] == str(DATABASE_DOWN.retry_after_s)
    import json

    body = json.loads(response.content)
    assert body["code"] == "database_unavailable" and "try again" in body["detail"]
    assert "disclaimer" in body


def test_storage_full_page_is_503_naming_it(rf):
    response = _answer_to(OSError(errno.ENOSPC, "No space left on device"), path="/", rf=rf)
    assert response.status_code == 503 and response["Retry-After"] == "60"
    assert STORAGE_FULL.detail in response.content.decode()


def test_an_ordinary_error_stays_a_500(rf):
    assert outage_of(exception=KeyError("x")) is None
    response = _answer_to(KeyError("x"), path="/", rf=rf)
    assert response.status_code == 500 and not response.has_header("Retry-After")


def test_storage_save_leaves_no_half_written_file(tmp_path):
    """The process may write 4 KiB per file (RLIMIT_FSIZE, a real write failure): the save of
    64 KiB fails part way and the partial file is removed."""
    storage = FileSystemStorage(location=str(tmp_path))
    saved = storage_save(name="studies/a/small.png", data=b"x" * 1000, storage=storage)
    previous_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    previous_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, previous_limit[1]))
    try:
        with pytest.raises(OSError):
            storage_save(name="studies/a/big.png", data=b"x" * 65536, storage=storage)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, previous_limit)
        signal.signal(signal.SIGXFSZ, previous_handler)
    assert sorted(p.name for p in (tmp_path / "studies" / "a").iterdir()) == ["small.png"]
    assert storage.size(saved) == 1000


def test_a_page_asked_for_json_gets_the_outage_as_json(rf):
    """The upload form's script asks for JSON and shows `detail`."""
    try:
        raise OperationalError("server closed the connection")
    except OperationalError:
        response = server_error(rf.get("/studies/new/", HTTP_ACCEPT="application/json"))
    assert response.status_code == 503 and response["Content-Type"] == "application/json"
    assert json.loads(response.content)["code"] == DATABASE_DOWN.code
