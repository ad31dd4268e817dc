"""The model comparison page (reviewers: their site; admins: every site) and the admins'
buttons that change the models in force."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from mlcore.labels import LABELS
from screening import selectors_comparison, selectors_deployment, services
from screening.views.common import reviewer_require


@login_required
@require_GET
def model_comparison(request: HttpRequest) -> HttpResponse:
    """Compare the model in force with the candidate on reviewed cases (reviewers, admins)."""
    reviewer_require(request=request)
    report = selectors_comparison.model_comparison_for(user=request.user)
    evidence = None
    if request.user.is_superuser and report.candidate:
        evidence = selectors_comparison.promotion_evidence(
            in_force=report.in_force, candidate=report.candidate
        )
    context = {
        "evidence": evidence,
        "report": report,
        "sections": [{"section": s, "rows": _class_rows(section=s)} for s in report.sections],
        "history": selectors_deployment.deployment_history() if request.user.is_superuser else [],
        "deployment": selectors_deployment.deployment_in_force(fresh=True),
        "actions": [
            ("promote", "Promote the candidate"),
            ("rollback", "Roll back"),
            ("candidate_clear", "Clear the candidate"),
        ],
    }
    return render(request, "screening/model_comparison.html", context)


def _class_rows(*, section: selectors_comparison.ComparisonSection) -> list[dict]:
    """One table row per class: both models' sensitivity and specificity."""
    figures = section.comparison
    if figures is None:
        return []
    return [
        {
            "label": label,
            "sensitivity": (
                figures.current.sensitivity[label],
                figures.candidate.sensitivity[label],
            ),
            "specificity": (
                figures.current.specificity[label],
                figures.candidate.specificity[label],
            ),
        }
        for label in LABELS
    ]


# The page's buttons: each calls one service (they write and audit).
_CHANGES = {
    "promote": services.model_promote,
    "rollback": services.model_rollback,
    "candidate_clear": services.model_candidate_clear,
}


@login_required
@require_POST
def model_deployment_change(request: HttpRequest) -> HttpResponse:
    """Register or clear the candidate, promote it or roll back (admins only)."""
    if not (request.user.is_active and request.user.is_superuser):
        raise PermissionDenied("Admins only.")
    action = request.POST.get("action", "")
    arguments = {
        "actor": request.user,
        "note": request.POST.get("note", ""),
        "meta": services.request_meta_from(request=request),
    }
    try:
        if action == "candidate_set":
            services.model_candidate_set(name=request.POST.get("name", ""), **arguments)
        elif action in _CHANGES:
            _CHANGES[action](**arguments)
        else:
            messages.error(request, "Unknown action.")
            return redirect("screening:model_comparison")
    except services.DeploymentError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Done: running workers follow within a few seconds.")
    return redirect("screening:model_comparison")
