"""Top-level URLs: accounts, health, admin, screening web and API."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from portal.accounts.views import LoginView
from portal.ops.health import healthz
from portal.views import home

handler400 = "portal.views.bad_request"
handler500 = "portal.views.server_error"

urlpatterns = [
    path("", home, name="home"),
    path("healthz", healthz, name="healthz"),
    path("accounts/login/", LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password/",
        auth_views.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "accounts/password/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("admin/", admin.site.urls),
    path("api/", include("screening.api.urls")),
    path("dicomweb/", include("screening.pacs.urls")),
    path("", include("screening.drift.urls")),
    path("", include("screening.urls")),
]
