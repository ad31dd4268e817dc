"""POST /dicomweb/studies[/{study}] (STOW-RS): instances become de-identified Images of a Study.

Every refusal is reported per instance in FailedSOPSequence with a reason; bad requests are
4xx and store nothing; the PACS's own UIDs live only in the link records.
"""

from __future__ import annotations

from io import BytesIO

import pydicom
import pytest
from django.test import Client
from pydicom.data import get_testdata_file
from pydicom.uid import HTJ2KLossless, generate_uid

from screening.models import Image, Prediction, Study
from screening.pacs.client import multipart_body
from screening.pacs.models import PacsInstanceLink, PacsStudyLink
from tests.pacs.conftest import PATIENT, chest_dicom, dicom_write, uids_of
from tests.support.stored import media_files

pytestmark = pytest.mark.django_db(transaction=True)
URL = "/dicomweb/studies"
REFERENCED, FAILED, REASON = "00081199", "00081198", "00081197"


def stow(token: str | None, files: list[bytes], *, url: str = URL, **extra):
    body, content_type = multipart_body(files=files)
    headers = {"HTTP_AUTHORIZATION": f"Token {token}"} if token else {}
    content_type = extra.pop("content_type", content_type)
    return Client().post(url, data=body, content_type=content_type, **headers, **extra)


def failures(response) -> list[tuple[str, int]]:
    items = response.json().get(FAILED, {}).get("Value", [])
    return [(item["00081155"].get("Value", [""])[0], item[REASON]["Value"][0]) for item in items]


def referenced(response) -> list[str]:
    return [i["00081155"]["Value"][0] for i in response.json()[REFERENCED].get("Value", [])]


def test_a_chest_film_becomes_a_deidentified_pacs_study(pacs_token, enqueued):
    data = chest_dicom(seed=1)
    original = uids_of(data)
    response = stow(pacs_token, [data], HTTP_ACCEPT="application/dicom+json")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/dicom+json")
    assert referenced(response) == [original["SOPInstanceUID"]]
    assert FAILED not in response.json()

    study = Study.objects.get()
    assert study.origin == Study.Origin.PACS and study.reference.startswith("CXR-")
    image = study.images.get()
    stored = image.file.read()
    for value in PATIENT.values():
        for part in value.split("^"):
            assert len(part) < 5 or part.encode() not in stored, part
    for uid in original.values():
        if uid != original["SOPClassUID"]:
            assert uid.encode() not in stored  # dicognito replaced every UID
    assert image.dicom_attributes["PatientIdentityRemoved"] == "YES"
    link = PacsInstanceLink.objects.get(image=image)
    assert link.sop_instance_uid == original["SOPInstanceUID"]
    assert link.study_link.study_instance_uid == original["StudyInstanceUID"]
    prediction = Prediction.objects.get(image=image)
    assert enqueued == [str(prediction.id)]


def test_later_instances_join_and_a_duplicate_is_not_stored_twice(pacs_token, enqueued):
    first = chest_dicom(seed=1)
    study_uid = uids_of(first)["StudyInstanceUID"]
    second = chest_dicom(seed=2, study_uid=study_uid)
    assert stow(pacs_token, [first]).status_code == 200
    response = stow(pacs_token, [second, first])  # `first` again: acknowledged, not stored
    assert response.status_code == 200, response.content
    assert sorted(referenced(response)) == sorted(
        [uids_of(second)["SOPInstanceUID"], uids_of(first)["SOPInstanceUID"]]
    )
    assert Study.objects.count() == 1 and Image.objects.count() == 2
    assert PacsStudyLink.objects.get().study.images.count() == 2
    assert len(enqueued) == 2


def test_a_commit_in_doubt_keeps_the_instance_and_a_resend_is_not_stored_twice(
    pacs_token, enqueued, commit_fails
):
    data = chest_dicom(seed=7)
    body, content_type = multipart_body(files=[data])
    commit_fails(landed=True)
    response = Client(raise_request_exception=False).post(
        URL, data=body, content_type=content_type, HTTP_AUTHORIZATION=f"Token {pacs_token}"
    )
    assert response.status_code == 503 and response.json()["code"] == "save_unconfirmed"
    image = Image.objects.get()
    assert {image.file.name, image.thumbnail.name} <= media_files()
    again = stow(pacs_token, [data])
    assert again.status_code == 200 and Image.objects.count() == 1


def test_a_film_stored_as_rgb_is_taken_and_another_colour_model_refused(pacs_token, enqueued):
    rgb = chest_dicom(seed=8, colour=True, bits=8)
    hsv = chest_dicom(seed=9, colour=True, bits=8, colour_model="HSV")
    response = stow(pacs_token, [rgb, hsv])
    assert response.status_code == 202, response.content
    assert referenced(response) == [uids_of(rgb)["SOPInstanceUID"]]
    assert failures(response) == [(uids_of(hsv)["SOPInstanceUID"], 0x0122)]
    image = Image.objects.get()
    assert image.dicom_attributes["PhotometricInterpretation"] == "RGB"
    assert image.dicom_attributes["PatientIdentityRemoved"] == "YES"


def test_non_image_and_bad_instances_are_refused_with_a_reason(pacs_token, enqueued, settings):
    good = chest_dicom(seed=3)
    report = pydicom.dcmread(get_testdata_file("test-SR.dcm"))
    ds = pydicom.dcmread(BytesIO(chest_dicom(seed=4)))
    ds.file_meta.TransferSyntaxUID = HTJ2KLossless  # pixels pydicom cannot decode
    ds.PixelData = pydicom.encaps.encapsulate([b"\x00" * 64])
    ds.SOPInstanceUID = generate_uid()
    long_uid = pydicom.dcmread(BytesIO(chest_dicom(seed=6)))
    long_uid.StudyInstanceUID = "1." + "2" * 70
    files = [good, dicom_write(report), dicom_write(ds), b"not dicom at all"]
    files.append(dicom_write(long_uid))
    response = stow(pacs_token, files)
    assert response.status_code == 202, response.content
    assert referenced(response) == [uids_of(good)["SOPInstanceUID"]]
    reasons = dict(failures(response))
    assert reasons[str(report.SOPInstanceUID)] == 0x0122  # not an image
    assert reasons[str(ds.SOPInstanceUID)] == 0xC122  # transfer syntax
    assert reasons[""] == 0xC000  # not DICOM
    assert reasons[str(long_uid.SOPInstanceUID)] == 0xC000  # a UID over 64 characters
    texts = [i["00000902"]["Value"][0] for i in response.json()[FAILED]["Value"]]
    assert any("not a chest radiograph image" in text for text in texts), texts
    assert Image.objects.count() == 1

    settings.CXR_MAX_UPLOAD_BYTES = 1000
    response = stow(pacs_token, [chest_dicom(seed=5)])
    assert response.status_code == 409 and failures(response)[0][1] == 0xA700


@pytest.mark.parametrize(
    ("content_type", "body", "status"),
    [
        ("application/dicom", None, 415),
        ('multipart/related; type="application/json"; boundary=x', None, 415),
        ('multipart/related; type="application/dicom"', None, 400),
        ('multipart/related; type="application/dicom"; boundary=zz', b"--zz\r\nX", 400),
        ('multipart/related; type="application/dicom"; boundary=zz', b"junk", 400),
    ],
)
def test_bad_requests_are_4xx_and_store_nothing(pacs_token, content_type, body, status):
    files_before = media_files()
    data = body if body is not None else chest_dicom(seed=1)
    response = Client().post(
        URL, data=data, content_type=content_type, HTTP_AUTHORIZATION=f"Token {pacs_token}"
    )
    assert response.status_code == status, response.content
    assert "detail" in response.json()
    assert Study.objects.count() == 0 and media_files() == files_before


def test_too_large_request_is_413(pacs_token, settings):
    settings.CXR_PACS_MAX_REQUEST_BYTES = 1000
    assert stow(pacs_token, [chest_dicom(seed=1)]).status_code == 413
    assert Study.objects.count() == 0


def test_only_the_pacs_role_may_stow(clinician, reviewer, admin_user, enqueued):
    from rest_framework.authtoken.models import Token

    assert stow(None, [chest_dicom()]).status_code == 401
    for user in (clinician, reviewer):
        token = Token.objects.get_or_create(user=user)[0].key
        assert stow(token, [chest_dicom()]).status_code == 403
    assert Study.objects.count() == 0
    token = Token.objects.get_or_create(user=admin_user)[0].key
    assert stow(token, [chest_dicom()]).status_code == 200


def test_our_own_result_objects_are_acknowledged_not_stored(pacs_token, enqueued):
    from mlcore.dicomout import Finding, StudyContext, dataset_bytes
    from mlcore.dicomreport import report_build

    finding = Finding(
        source_sop_class_uid="1.2.840.10008.5.1.4.1.1.1.1",
        source_sop_instance_uid=generate_uid(),
        source_series_instance_uid=generate_uid(),
        status="done",
        label="normal",
    )
    sr = report_build(
        context=StudyContext(study_instance_uid=generate_uid()), findings=[finding],
        disclaimer="x", series_uid=generate_uid(), sop_uid=generate_uid(), instance_number=1,
    )  # fmt: skip
    response = stow(pacs_token, [dataset_bytes(ds=sr)])
    assert response.status_code == 200 and referenced(response) == [str(sr.SOPInstanceUID)]
    assert Study.objects.count() == 0


# --------------------------------------------------------------------------- POST /studies/{study}


def test_stow_to_a_study_stores_its_instances_in_it(pacs_token, enqueued):
    study_uid = generate_uid()
    files = [chest_dicom(seed=1, study_uid=study_uid), chest_dicom(seed=2, study_uid=study_uid)]
    response = stow(pacs_token, files, url=f"{URL}/{study_uid}")
    assert response.status_code == 200, response.content
    assert sorted(referenced(response)) == sorted(uids_of(f)["SOPInstanceUID"] for f in files)
    assert FAILED not in response.json()
    link = PacsStudyLink.objects.get()
    assert link.study_instance_uid == study_uid and link.study.images.count() == 2
    assert Study.objects.count() == 1 and len(enqueued) == 2


def test_an_instance_of_another_study_fails_before_decoding(pacs_token, enqueued, monkeypatch):
    import mlcore.imageio

    decoded = []
    decode = mlcore.imageio.image_decode
    monkeypatch.setattr(
        mlcore.imageio, "image_decode", lambda **kw: decoded.append(1) or decode(**kw)
    )
    study_uid = generate_uid()
    match, other = chest_dicom(seed=1, study_uid=study_uid), chest_dicom(seed=2)
    response = stow(pacs_token, [match, other], url=f"{URL}/{study_uid}")
    assert response.status_code == 202, response.content
    assert referenced(response) == [uids_of(match)["SOPInstanceUID"]]
    assert failures(response) == [(uids_of(other)["SOPInstanceUID"], 43265)]
    comment = response.json()[FAILED]["Value"][0]["00000902"]["Value"][0]
    assert comment.startswith("does not belong to study"), comment
    assert decoded == [1]  # only the matching instance was decoded
    assert PacsStudyLink.objects.get().study_instance_uid == study_uid
    assert Image.objects.count() == 1 and len(enqueued) == 1

    response = stow(pacs_token, [other], url=f"{URL}/{study_uid}")
    assert response.status_code == 409 and failures(response)[0][1] == 0xA901


@pytest.mark.parametrize("study_uid", ["1.2.abc", "1." + "2" * 70, "1.2%203"])
def test_a_bad_study_uid_in_the_path_is_400(pacs_token, study_uid):
    response = stow(pacs_token, [chest_dicom(seed=1)], url=f"{URL}/{study_uid}")
    assert response.status_code == 400, response.content
    assert "not a DICOM UID" in response.json()["detail"]
    assert Study.objects.count() == 0


def test_only_the_pacs_role_may_stow_to_a_study(clinician, pacs_token, enqueued):
    from rest_framework.authtoken.models import Token

    study_uid = generate_uid()
    url, data = f"{URL}/{study_uid}", chest_dicom(seed=1, study_uid=study_uid)
    assert stow(None, [data], url=url).status_code == 401
    token = Token.objects.get_or_create(user=clinician)[0].key
    assert stow(token, [data], url=url).status_code == 403
    assert stow(token, [data], url=f"{URL}/not-a-uid").status_code == 403
    assert Study.objects.count() == 0
    assert stow(pacs_token, [data], url=url).status_code == 200
