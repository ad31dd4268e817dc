"""The DICOM listener (`manage.py dicom_listener`) with real peers: dcmtk's echoscu and storescu,
and Orthanc sending by C-STORE (/modalities/{id}/store) and receiving the results by C-STORE.

One listener process and one Orthanc serve the whole module.
"""

from __future__ import annotations

import time
from pathlib import Path

import pydicom
import pytest
from django.core.management import CommandError, call_command
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import EncapsulatedPDFStorage, ExplicitVRLittleEndian, generate_uid

from mlcore.dicommap import parametric_map_read
from mlcore.dicomreport import report_read
from screening.atomic_files import CommitInDoubt
from screening.models import Image, Prediction, Study
from screening.pacs.models import PacsInstanceLink, PacsPeer, PacsStudyLink
from screening.pacs.receive import dimse_instance_store, outcome_status
from tests.pacs.conftest import PATIENT, chest_dicom, dicom_write, study_objects, uids_of
from tests.support.listener import AE_TITLE, dcmtk, listener_running
from tests.support.orthanc import free_port
from tests.support.stored import media_files
from tests.support.worker import until, worker_running

pytestmark = pytest.mark.django_db(transaction=True)
PEER = "MODALITY1"


@pytest.fixture(scope="module")
def listener(django_db_setup, tmp_path_factory):
    log_path = tmp_path_factory.mktemp("listener") / "listener.log"
    with listener_running(port=free_port(), log_path=log_path) as process:
        yield process


@pytest.fixture
def peer(pacs_account) -> PacsPeer:
    call_command("dicom_peer", "--ae-title", PEER, "--user", pacs_account.username,
                 "--host", "127.0.0.1", "--port", "9")  # fmt: skip
    return PacsPeer.objects.get(ae_title=PEER)


def store(listener, path: Path, *, ae_title: str = PEER) -> str:
    """Send one file with storescu (only the contexts it needs); return its output."""
    done = dcmtk("storescu", "-R", "-aet", ae_title, "-aec", AE_TITLE, "127.0.0.1",
                 listener.port, path)  # fmt: skip
    return done.stdout + done.stderr


def echo(listener, *, ae_title: str = PEER) -> int:
    return dcmtk(
        "echoscu", "-aet", ae_title, "-aec", AE_TITLE, "127.0.0.1", listener.port
    ).returncode


def log_line(listener, *texts: str) -> str:
    """Wait for the listener's log line that holds every one of `texts`; return it."""

    def found():
        lines = listener.log().splitlines()
        return next((line for line in lines if all(text in line for text in texts)), None)

    return until(found, timeout=10, message=f"a log line with {texts}\n{listener.log()[-2000:]}")


def test_only_registered_peers_may_associate(listener, peer):
    assert echo(listener) == 0
    assert echo(listener, ae_title="STRANGER") != 0
    assert "not a registered peer" in log_line(listener, "AE 'STRANGER'")
    peer.user.is_active = False
    peer.user.save()
    assert echo(listener) != 0  # the account's limits are the peer's


def test_a_peer_may_call_only_from_its_networks_or_its_host(listener, peer):
    peer.networks = "10.9.0.0/16"
    peer.save()
    assert echo(listener) != 0
    assert "AE 'MODALITY1'" in log_line(listener, "not from the peer's networks (10.9.0.0/16)")
    peer.networks = "10.9.0.0/16, 127.0.0.0/8"
    peer.save()
    assert echo(listener) == 0
    peer.networks, peer.host = "", "no-such-host.invalid"
    peer.save()
    assert echo(listener) != 0
    assert "refused" in log_line(listener, "networks (host no-such-host.invalid)")


def test_the_peer_command_checks_its_networks(pacs_account):
    from screening.pacs.peers import peer_address_allowed

    with pytest.raises(CommandError, match="is not an address or a CIDR"):
        call_command("dicom_peer", "--ae-title", "X", "--user", pacs_account.username,
                     "--host", "h", "--port", "104", "--networks", "10.0.0.300")  # fmt: skip
    call_command("dicom_peer", "--ae-title", "X", "--user", pacs_account.username, "--host",
                 "h", "--port", "104", "--networks", " 192.168.4.7, fd00::/8,")  # fmt: skip
    peer = PacsPeer.objects.get(ae_title="X")
    assert peer.networks == "192.168.4.7/32, fd00::/8"
    assert peer_address_allowed(peer=peer, address="192.168.4.7")
    assert peer_address_allowed(peer=peer, address="fd00::1")
    assert not peer_address_allowed(peer=peer, address="192.168.4.8")
    assert not peer_address_allowed(peer=peer, address="not an address")
    assert peer_address_allowed(peer=peer, address="::ffff:192.168.4.7")  # a dual-stack socket
    peer.networks = "10.0.0.300"
    assert not peer_address_allowed(peer=peer, address="192.168.4.7")


def test_the_peer_command_needs_a_pacs_account(clinician):
    with pytest.raises(CommandError, match="role pacs"):
        call_command("dicom_peer", "--ae-title", "X", "--user", clinician.username,
                     "--host", "h", "--port", "104")  # fmt: skip
    with pytest.raises(CommandError, match="AE title"):
        call_command("dicom_peer", "--ae-title", "A" * 17, "--user", clinician.username,
                     "--host", "h", "--port", "104")  # fmt: skip


def test_a_film_is_screened_like_a_stow_one_and_a_resend_adds_nothing(listener, peer, tmp_path):
    path = tmp_path / "film.dcm"
    path.write_bytes(chest_dicom(seed=31))
    original = uids_of(path.read_bytes())
    assert "Received Store Response (Success)" in store(listener, path)
    study = Study.objects.get()
    assert study.origin == Study.Origin.PACS and study.owner == peer.user
    image = study.images.get()
    stored = image.file.read()
    assert PATIENT["PatientName"].split("^")[0].encode() not in stored
    assert original["SOPInstanceUID"].encode() not in stored
    link = PacsStudyLink.objects.get()
    assert link.peer == peer and link.study_instance_uid == original["StudyInstanceUID"]
    assert PacsInstanceLink.objects.get().sop_instance_uid == original["SOPInstanceUID"]
    assert Prediction.objects.get(image=image).status == Prediction.Status.QUEUED
    assert log_line(listener, f"AE '{PEER}'", "released; 1 stored")

    assert "Received Store Response (Success)" in store(listener, path)
    assert Image.objects.count() == 1 and Study.objects.count() == 1
    assert log_line(listener, f"AE '{PEER}'", "0 stored, 1 already received")


def test_a_c_store_whose_commit_is_in_doubt_keeps_the_instance_and_a_resend_adds_nothing(
    peer, enqueued, commit_fails
):
    data = chest_dicom(seed=33)
    commit_fails(landed=True)
    with pytest.raises(CommitInDoubt):  # the listener answers it 0x0110: the peer sends again
        dimse_instance_store(peer_id=peer.pk, data=data)
    image = Image.objects.get()
    assert {image.file.name, image.thumbnail.name} <= media_files()

    again = dimse_instance_store(peer_id=peer.pk, data=data)
    assert again.duplicate and outcome_status(outcome=again) == 0x0000
    assert Image.objects.count() == 1 and Study.objects.count() == 1


def encapsulated_pdf() -> bytes:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = EncapsulatedPDFStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = EncapsulatedPDFStorage, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientName, ds.PatientID, ds.Modality = "Pdf^Patient", "PDF-1", "DOC"
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.EncapsulatedDocument = b"%PDF-1.4\n%%EOF\n"
    return dicom_write(ds)


def truncated_film() -> bytes:
    """A film whose pixel data stops half way (the header still promises all of it)."""
    ds = pydicom.dcmread(pydicom.filebase.DicomBytesIO(chest_dicom(seed=32)))
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.PixelData = ds.PixelData[: len(ds.PixelData) // 2]
    return dicom_write(ds)


def test_a_pdf_and_a_truncated_film_get_a_failure_status_and_the_listener_lives(
    listener, peer, tmp_path
):
    pdf, short = tmp_path / "report.dcm", tmp_path / "short.dcm"
    pdf.write_bytes(encapsulated_pdf())
    short.write_bytes(truncated_film())
    assert "Received Store Response (Refused: SOPClassNotSupported)" in store(listener, pdf)
    assert log_line(listener, "1 failed (0x0122 not a chest radiograph image", "no pixel data")
    output = store(listener, short)
    assert "Received Store Response (Error: CannotUnderstand)" in output, output
    assert log_line(listener, "1 failed (0xC000")
    assert Study.objects.count() == 0 and Image.objects.count() == 0
    assert echo(listener) == 0 and listener.process.poll() is None


# --------------------------------------------------------------------------- Orthanc by C-STORE


def orthanc_as_peer(*, orthanc, listener, account) -> None:
    """Orthanc knows the listener as modality `cxrscreen`; the portal knows Orthanc as a peer."""
    orthanc.modality_put(name="cxrscreen", ae_title=AE_TITLE, port=listener.port)
    call_command("dicom_peer", "--ae-title", orthanc.AE_TITLE, "--user", account.username,
                 "--host", "127.0.0.1", "--port", str(orthanc.dicom_port))  # fmt: skip


def results_in(orthanc, study_uid: str):
    def check():
        found = study_objects(orthanc, study_uid=study_uid)
        return found if "SR" in found else None

    return check


def kinds(found: dict[str, list]) -> dict[str, int]:
    return {kind: len(objects) for kind, objects in found.items()}


@pytest.mark.worker
@pytest.mark.slow
def test_orthanc_pushes_by_c_store_and_gets_results_back_by_c_store(
    listener, empty_orthanc, pacs_account, tiny_model, tmp_path, record_property
):
    orthanc = empty_orthanc
    orthanc_as_peer(orthanc=orthanc, listener=listener, account=pacs_account)
    env = {
        **tiny_model,
        "CXR_PACS_DICOMWEB_URL": "",  # results go back to the peer, by C-STORE
        "CXR_PACS_RETRY_DELAY_S": "1",
        "CXR_PACS_RETRY_MAX_DELAY_S": "2",
    }
    log = tmp_path / "worker.log"
    late, first = chest_dicom(seed=42), chest_dicom(seed=41)
    late_uid, first_uid = uids_of(late)["StudyInstanceUID"], uids_of(first)["StudyInstanceUID"]
    # Orthanc down while results are due: a study pushed, Orthanc stopped, then screened.
    late_study = orthanc.instance_upload(late)["ParentStudy"]
    response = orthanc.modality_store(name="cxrscreen", resources=[late_study])
    assert response.ok, (response.text, orthanc.log(), listener.log()[-2000:])
    orthanc.stop()
    with worker_running(log_path=log, **env):
        failed = PacsStudyLink.objects.filter(study_instance_uid=late_uid).exclude(results_error="")
        until(failed.exists, timeout=180, message="a failed delivery")
        assert "unreachable" in failed.get().results_error
        orthanc.start()
        orthanc.modality_put(name="cxrscreen", ae_title=AE_TITLE, port=listener.port)
        message = f"results after Orthanc came back\n{log.read_text()[-3000:]}"
        late_found = until(results_in(orthanc, late_uid), timeout=120, interval=0.5,
                           message=message)  # fmt: skip

        started = time.monotonic()
        orthanc_study = orthanc.instance_upload(first)["ParentStudy"]
        assert orthanc.modality_store(name="cxrscreen", resources=[orthanc_study]).ok
        found = until(results_in(orthanc, first_uid), timeout=120, interval=0.2,
                      message=f"results by C-STORE\n{log.read_text()[-3000:]}")  # fmt: skip
        record_property("c_store_round_trip_s", round(time.monotonic() - started, 2))
        assert log_line(listener, "AE 'ORTHANC'", "released; 1 stored")

        # A second push (the film and our three results) adds nothing anywhere.
        assert orthanc.modality_store(name="cxrscreen", resources=[orthanc_study]).ok
        assert log_line(listener, "AE 'ORTHANC'", "0 stored, 1 already received")
        assert Image.objects.count() == 2
        assert kinds(study_objects(orthanc, study_uid=first_uid)) == kinds(found)
    for objects in (late_found, found):
        assert kinds(objects) == {"DX": 1, "SC": 1, "PM": 1, "SR": 1}
    link = PacsStudyLink.objects.get(study_instance_uid=late_uid)
    assert link.results_sent is not None and link.results_error == ""
    (sr,), (pm,) = found["SR"], found["PM"]
    images, _ = report_read(ds=sr)
    assert images[0]["source_sop_instance_uid"] == uids_of(first)["SOPInstanceUID"]
    assert images[0]["model_name"] == "tiny" and images[0]["gate_decision"] == "accepted"
    assert parametric_map_read(ds=pm).shape == (found["DX"][0].Rows, found["DX"][0].Columns)
