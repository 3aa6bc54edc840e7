"""The settings area: profile, privacy, security, tokens and data, one page each with a side
navigation. Plain forms over the same services as the API (each POST redirects back, except
token creation, whose answer is the only place the secret is ever shown)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from apps.accounts import selectors, services
from apps.accounts.forms import AvatarForm, PasswordChangeForm
from apps.accounts.forms_settings import SCOPE_LABELS, PrivacyForm, ProfileForm, TokenForm
from apps.core.exceptions import ApplicationError
from apps.core.pagination import PageParams


def _add_errors(form, error: ApplicationError, *, rename: dict[str, str] | None = None) -> None:
    """Put a service's refusal on the form: under the field it names, else above the form."""
    fields = error.fields or {}
    if not fields:
        form.add_error(None, error.message)
    for name, errors in fields.items():
        name = (rename or {}).get(name, name)
        for message in errors:
            form.add_error(name if name in form.fields else None, message)


@login_required
def settings_index(request):
    return redirect("accounts:settings_profile")


@login_required
def settings_profile(request):
    """Display name, bio, links, and the profile picture (uploaded through ``accounts:avatar``)."""
    form = ProfileForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            services.user_update(
                user=request.user,
                display_name=form.cleaned_data["display_name"],
                bio=form.cleaned_data["bio"],
                links=form.links(),
            )
        except ApplicationError as e:
            request.user.refresh_from_db()  # nothing was saved: show what is stored
            _add_errors(form, e)
        else:
            messages.success(request, "Your profile is saved.")
            return redirect("accounts:settings_profile")
    return render(
        request,
        "accounts/settings/profile.html",
        {"form": form, "avatar_form": AvatarForm(), "section": "profile"},
    )


@login_required
def settings_privacy(request):
    """Private account, sensitive media, follow requests, blocks and mutes, and where likeness
    and training consent stand (edited on their own page)."""
    from apps.consent import selectors as consent_selectors
    from apps.social import selectors as social_selectors

    form = PrivacyForm(
        request.POST or None,
        initial={
            "is_private": request.user.is_private,
            "sensitive_media": request.user.sensitive_media,
        },
    )
    if request.method == "POST" and form.is_valid():
        services.user_update(
            user=request.user,
            is_private=form.cleaned_data["is_private"],
            sensitive_media=form.cleaned_data["sensitive_media"],
        )
        messages.success(request, "Saved.")
        return redirect("accounts:settings_privacy")
    from apps.consent.views import POLICY_LABELS

    consent = consent_selectors.consent_settings(user=request.user)
    return render(
        request,
        "accounts/settings/privacy.html",
        {
            "form": form,
            "section": "privacy",
            "likeness_label": POLICY_LABELS[consent.likeness_policy],
            "training_allowed": consent.training_default_allowed,
            "requests": social_selectors.follow_requests_pending(user=request.user)[:200],
            "blocked": social_selectors.blocked_users(user=request.user)[:500],
            "muted": social_selectors.muted_users(user=request.user)[:500],
        },
    )


@login_required
def settings_security(request):
    """Password (changed at ``accounts:password``), two-factor, sessions, email, and tokens."""
    return render(
        request,
        "accounts/settings/security.html",
        {
            "password_form": PasswordChangeForm(),
            "section": "security",
            "active_tokens": selectors.token_count_active(user=request.user),
        },
    )


def _token_state(token) -> str:
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= timezone.now():
        return "expired"
    return "active"


@never_cache  # the answer to a creation carries the secret: no cache may keep it
@login_required
def settings_tokens(request):
    """My tokens, and a form to make one. The session is the proof of identity here (no
    password), as on every other settings page; the secret appears once, in this answer."""
    form = TokenForm(request.POST or None, user=request.user)
    created = secret = None
    if request.method == "POST" and form.is_valid():
        try:
            created, secret = services.token_create(
                user=request.user,
                scopes=form.cleaned_data["scopes"],
                name=form.cleaned_data["name"],
                expires_at=form.cleaned_data["expires_at"],
            )
        except ApplicationError as e:
            _add_errors(form, e, rename={"expires_at": "expires_on"})
        else:
            form = TokenForm(user=request.user)
    try:
        params = PageParams.from_query(request.GET)
    except ApplicationError:
        params = PageParams()
    page = selectors.token_list(user=request.user, params=params)
    for token in page.items:
        token.state = _token_state(token)
    return render(
        request,
        "accounts/settings/tokens.html",
        {
            "form": form,
            "section": "tokens",
            "page": page,
            "created": created,
            "secret": secret,
            "scope_labels": SCOPE_LABELS,
        },
    )


@login_required
@require_POST
def settings_token_revoke(request, token_id: int):
    """Revoke one of my tokens; its open sockets close (``services.token_revoke``)."""
    try:
        services.token_revoke(user=request.user, token_id=token_id)
    except ApplicationError:
        messages.error(request, "That token is already revoked or does not exist.")
    else:
        messages.success(request, "The token is revoked: it no longer works anywhere.")
    return redirect("accounts:settings_tokens")


@login_required
def settings_data(request):
    return render(request, "accounts/settings/data.html", {"section": "data"})
