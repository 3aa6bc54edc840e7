"""Settings → Likeness & training: the same services and selectors as the API, as plain forms
(each POST redirects back, so the page works without JavaScript)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from apps.consent import selectors, services
from apps.consent.models import ConsentSettings
from apps.core.exceptions import ApplicationError
from apps.core.pagination import PageParams

POLICY_LABELS = {
    "nobody": _("Nobody but me"),
    "approved": _("Only people I approve"),
    "followers": _("My followers and people I approve"),
    "everyone": _("Everyone"),
}


def _error(request, e: ApplicationError) -> None:
    details = [m for msgs in (e.fields or {}).values() for m in msgs]
    messages.error(request, " ".join([e.message, *details]) if details else e.message)


@login_required
def consent_settings(request):
    """Who may use my likeness, the uses made of it, my training default, my consent log."""
    try:
        uses = selectors.likeness_uses(
            person=request.user, params=PageParams.from_query(request.GET)
        )
        events = selectors.consent_events(user=request.user, params=PageParams(limit=50))
    except ApplicationError as e:
        raise Http404 from e
    state = selectors.consent_settings(user=request.user)
    return render(
        request,
        "consent/settings.html",
        {
            "state": state,
            "policies": [(p, POLICY_LABELS[p]) for p in ConsentSettings.Policy.values],
            "approved": selectors.likeness_approved(user=request.user),
            "uses": uses,
            "events": events,
        },
    )


@login_required
@require_POST
def likeness_policy(request):
    try:
        services.likeness_consent_set(user=request.user, policy=request.POST.get("policy", ""))
        messages.success(request, "Saved.")
    except ApplicationError as e:
        _error(request, e)
    return redirect("consent:settings")


@login_required
@require_POST
def likeness_approved(request):
    """Add one person to the approved list, or take one off it."""
    name = request.POST.get("username", "").strip().lstrip("@")
    current = selectors.likeness_approved(user=request.user)
    if request.POST.get("action") == "remove":
        wanted = [n for n in current if n.lower() != name.lower()]
    else:
        wanted = [*current, name] if name else current
    try:
        services.likeness_consent_set(user=request.user, approved=wanted)
        messages.success(request, "Saved.")
    except ApplicationError as e:
        _error(request, e)
    return redirect("consent:settings")


@login_required
@require_POST
def likeness_use_remove(request, job_id: int):
    try:
        services.likeness_use_remove(person=request.user, job_id=job_id)
        messages.success(request, "Removed: it has left their Library, and any post of it is down.")
    except ApplicationError as e:
        _error(request, e)
    return redirect("consent:settings")


@login_required
@require_POST
def training_default(request):
    services.training_default_set(
        user=request.user, default_allowed=request.POST.get("default_allowed") == "on"
    )
    messages.success(request, "Saved.")
    return redirect("consent:settings")
