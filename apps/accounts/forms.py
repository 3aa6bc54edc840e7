from allauth.account.forms import LoginForm as AllauthLoginForm
from django import forms
from django.utils.translation import gettext_lazy as _

from apps.accounts.adapter import RETRY_AFTER_ATTR


class SignupForm(forms.Form):
    username = forms.CharField(max_length=30)
    email = forms.EmailField(max_length=254)
    password = forms.CharField(max_length=256, widget=forms.PasswordInput)


class AvatarForm(forms.Form):
    # The file is checked by media's untrusted-upload entry point, not by the form.
    file = forms.FileField(
        label=_("Profile picture"),
        widget=forms.ClearableFileInput(
            attrs={"accept": "image/png,image/jpeg,image/webp,image/gif"}
        ),
    )


class PasswordChangeForm(forms.Form):
    old_password = forms.CharField(
        label=_("Current password"), max_length=256, strip=False, widget=forms.PasswordInput
    )
    new_password = forms.CharField(
        label=_("New password"), max_length=256, strip=False, widget=forms.PasswordInput
    )
    new_password_again = forms.CharField(
        label=_("New password, again"), max_length=256, strip=False, widget=forms.PasswordInput
    )

    def clean(self):
        data = super().clean()
        if data.get("new_password") != data.get("new_password_again"):
            self.add_error("new_password_again", _("The two new passwords differ."))
        return data


class LoginForm(AllauthLoginForm):
    """allauth's log-in form (its flow: two-factor stage, sessions, a pending deletion), with
    the field named ``username`` as Vivid's page always had. The adapter counts the password
    check against the log-in limits; past them ``retry_after`` says when to come back."""

    retry_after: int | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields.pop("login")
        field.label = _("Username")
        field.max_length = 150
        field.widget.attrs.update({"autocomplete": "username", "autofocus": True})
        self.fields = {"username": field, **self.fields}

    def clean_username(self) -> str:
        return self.cleaned_data["username"].strip()

    def clean(self):
        if "username" in self.cleaned_data:  # where allauth's flow reads it
            self.cleaned_data["login"] = self.cleaned_data["username"]
        try:
            return super().clean()
        finally:
            self.retry_after = getattr(self.request, RETRY_AFTER_ATTR, None)
