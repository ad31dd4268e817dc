from io import StringIO

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.urls import reverse

from portal.accounts.models import User
from tests.factories import PASSWORD


@pytest.mark.django_db
def test_role_groups_exist_from_migration():
    assert set(Group.objects.values_list("name", flat=True)) >= {"clinician", "reviewer"}


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["clinician", "reviewer", "admin"])
def test_create_user_command_creates_then_updates(role):
    out = StringIO()
    call_command("create_user", username="u1", password="a-Long-pass-2026", role=role, stdout=out)
    assert "Created user 'u1'" in out.getvalue()
    user = User.objects.get(username="u1")
    assert user.check_password("a-Long-pass-2026")
    assert user.has_role(role)
    assert user.is_superuser is (role == "admin")

    call_command("create_user", username="u1", password="another-Pass-2027", role=role, stdout=out)
    assert "Updated user 'u1'" in out.getvalue()
    assert User.objects.get(username="u1").check_password("another-Pass-2027")


@pytest.mark.django_db
def test_create_user_changes_role_exclusively():
    call_command("create_user", username="u2", password="a-Long-pass-2026", role="reviewer")
    call_command("create_user", username="u2", password="a-Long-pass-2026", role="clinician")
    user = User.objects.get(username="u2")
    assert list(user.groups.values_list("name", flat=True)) == ["clinician"]
    assert not user.is_reviewer


@pytest.mark.django_db
def test_create_user_unknown_role_is_a_clear_error():
    with pytest.raises(CommandError, match="Unknown role 'nurse': choose one of"):
        call_command("create_user", username="u3", password="a-Long-pass-2026", role="nurse")
    assert not User.objects.filter(username="u3").exists()


@pytest.mark.django_db
def test_create_user_applies_password_validators():
    with pytest.raises(CommandError, match="Password refused"):
        call_command("create_user", username="u4", password="123", role="clinician")


def test_manage_py_defaults_to_local_settings():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "manage.py").read_text()
    assert '"portal.settings.local"' in text


@pytest.mark.django_db
def test_login_page_renders_with_disclaimer(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert b"not a diagnostic device" in response.content.lower()


@pytest.mark.django_db
def test_login_logout_and_password_change(client, clinician):
    response = client.post(reverse("login"), {"username": clinician.username, "password": PASSWORD})
    assert response.status_code == 302
    page = client.get(reverse("password_change"))
    assert page.status_code == 200 and b"not a diagnostic device" in page.content.lower()
    response = client.post(
        reverse("password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": "Zebra-pancake-91",
            "new_password2": "Zebra-pancake-91",
        },
    )
    assert response.status_code == 302
    clinician.refresh_from_db()
    assert clinician.check_password("Zebra-pancake-91")
    client.post(reverse("logout"))
    assert client.get(reverse("home")).status_code == 302


@pytest.mark.django_db
def test_pages_require_login(client):
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


@pytest.mark.django_db
def test_login_is_throttled_after_repeated_failures(client, clinician, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("login"), {"username": clinician.username, "password": "wrong"})
    response = client.post(reverse("login"), {"username": clinician.username, "password": PASSWORD})
    assert response.status_code == 429
