"""The settings page that deletes an account, over the same service as ``DELETE /api/v1/me``."""

from django import forms
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from apps.accounts import deletion
from apps.core.exceptions import ApplicationError

TEMPLATE = "accounts/settings/delete.html"


class DeletionForm(forms.Form):
    password = forms.CharField(
        label="Your password", max_length=256, strip=False, widget=forms.PasswordInput
    )
    otp = forms.CharField(
        label="Code from your authenticator app",
        max_length=16,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )

    def __init__(self, *args, with_code: bool, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not with_code:
            del self.fields["otp"]


@login_required
def account_delete(request):
    """Ask for the password (and code), then delete: the account is gone at once, this session
    ends, and the page says when the purge happens and how to take it back."""
    with_code = deletion.totp_authenticator(request.user) is not None
    form = DeletionForm(request.POST or None, with_code=with_code)
    context = {
        "form": form,
        "grace_days": deletion.grace_days(),
        "section": "data",
    }
    if request.method == "POST" and form.is_valid():
        try:
            user = deletion.deletion_request(
                user=request.user,
                password=form.cleaned_data["password"],
                otp=form.cleaned_data.get("otp"),
            )
        except ApplicationError as e:
            if e.code == "rate_limited":
                form.add_error(None, e.message)
                response = render(request, TEMPLATE, context, status=429)
                response["Retry-After"] = str(e.retry_after)
                return response
            for field, errors in (e.fields or {}).items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
            if not e.fields:
                form.add_error(None, e.message)
        else:
            logout(request)
            context.update(form=None, purge_at=user.deletion_purge_at)
            return render(request, TEMPLATE, context)
    return render(request, TEMPLATE, context, status=400 if form.errors else 200)
