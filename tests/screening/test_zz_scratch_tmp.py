import uuid
import pytest
from portal.ops.models import WorkerHeartbeat
from portal.ops.tasks import heartbeat_record
from tests.support.worker import until, worker_running

pytestmark = [pytest.mark.django_db(transaction=True)]


def test_replacement_child(tmp_path):
    import subprocess
    from tests.support import worker as w
    orig = subprocess.Popen
    def popen(cmd, **kw):
        return orig([*cmd, "--max-tasks-per-child=1"], **kw)
    subprocess.Popen = popen
    try:
        with worker_running(log_path=tmp_path / "w.log", CXR_WEIGHTS_DIR="tests/fixtures/models", CXR_MODEL_NAME="tiny"):
            tokens = [str(uuid.uuid4()) for _ in range(2)]
            for t in tokens:
                heartbeat_record.delay(t)
            until(lambda: WorkerHeartbeat.objects.filter(token__in=tokens).count() == 2, timeout=200)
    finally:
        subprocess.Popen = orig
        print((tmp_path / "w.log").read_text()[-2500:])
