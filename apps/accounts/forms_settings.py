"""Forms of the settings pages. They only shape input: the rules (what a link may be, which
scopes a person may give a token, how far ahead a token may expire) are the services', so the
site and the API refuse the same things."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.accounts import services
from apps.accounts.models import User


class ProfileForm(forms.Form):
    display_name = forms.CharField(label=_("Display name"), max_length=60, required=False)
    bio = forms.CharField(
        label=_("Bio"), max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 4})
    )

    def __init__(self, *args, user: User, **kwargs):
        links = list(user.links or [])
        initial = {"display_name": user.display_name, "bio": user.bio}
        for i in range(services.PROFILE_LINKS_MAX):
            link = links[i] if i < len(links) and isinstance(links[i], dict) else {}
            initial[f"link_label_{i}"] = link.get("label", "")
            initial[f"link_url_{i}"] = link.get("url", "")
        super().__init__(*args, initial=initial, **kwargs)
        # One row per link the profile may show; a row left empty is no link.
        for i in range(services.PROFILE_LINKS_MAX):
            self.fields[f"link_label_{i}"] = forms.CharField(
                label=_("Link %(n)s label") % {"n": i + 1},
                max_length=services.PROFILE_LINK_LABEL_MAX,
                required=False,
            )
            self.fields[f"link_url_{i}"] = forms.CharField(
                label=_("Link %(n)s address") % {"n": i + 1},
                max_length=services.PROFILE_LINK_URL_MAX,
                required=False,
                widget=forms.URLInput(attrs={"placeholder": "https://"}),
            )

    def link_rows(self) -> list[tuple[forms.BoundField, forms.BoundField]]:
        return [
            (self[f"link_label_{i}"], self[f"link_url_{i}"])
            for i in range(services.PROFILE_LINKS_MAX)
        ]

    def links(self) -> list[dict[str, str]]:
        """The rows that have anything in them, in order (checked by ``links_validate``)."""
        out = []
        for i in range(services.PROFILE_LINKS_MAX):
            label = self.cleaned_data.get(f"link_label_{i}", "")
            url = self.cleaned_data.get(f"link_url_{i}", "")
            if label or url:
                out.append({"label": label, "url": url})
        return out


class PrivacyForm(forms.Form):
    is_private = forms.BooleanField(
        label=_("Private account: only followers you approve see your posts"), required=False
    )
    sensitive_media = forms.ChoiceField(
        label=_("Sensitive media"),
        choices=[
            ("show", _("Show")),
            ("blur", _("Blur until I click")),
            ("hide", _("Hide from my feeds")),
        ],
        widget=forms.RadioSelect,
    )


EXPIRY_CHOICES = [
    ("never", _("Never")),
    ("7", _("In 7 days")),
    ("30", _("In 30 days")),
    ("90", _("In 90 days")),
    ("date", _("On a date")),
]
SCOPE_LABELS = {
    "read": _("read: see what you can see"),
    "write": _("write: post, comment, react, follow, generate"),
    "moderate": _("moderate: act as a moderator"),
}


class TokenForm(forms.Form):
    name = forms.CharField(
        label=_("Name"), max_length=100, help_text=_("What the token is for, e.g. “backup script”.")
    )
    scopes = forms.MultipleChoiceField(label=_("Scopes"), widget=forms.CheckboxSelectMultiple)
    expiry = forms.ChoiceField(
        label=_("Expires"), choices=EXPIRY_CHOICES, initial="90", widget=forms.RadioSelect
    )
    expires_on = forms.DateField(
        label=_("Expiry date"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("The token works until the end of that day (UTC)."),
    )

    def __init__(self, *args, user: User, **kwargs):
        from apps.moderation.roles import is_moderator

        super().__init__(*args, **kwargs)
        scopes = ["read", "write", *(["moderate"] if is_moderator(user) else [])]
        self.fields["scopes"].choices = [(s, SCOPE_LABELS[s]) for s in scopes]
        self.fields["scopes"].initial = ["read"]
        today = timezone.now().date()
        self.fields["expires_on"].widget.attrs.update(
            min=(today + dt.timedelta(days=1)).isoformat(),
            max=(today + dt.timedelta(days=364)).isoformat(),
        )

    def clean(self):
        data = super().clean()
        expiry = data.get("expiry")
        if expiry == "date":
            day = data.get("expires_on")
            if day is None:
                self.add_error("expires_on", _("Choose the day the token stops working."))
            else:
                # The start of the next day in UTC: the token works through the chosen day.
                data["expires_at"] = dt.datetime.combine(
                    day + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC
                )
        elif expiry and expiry != "never":
            data["expires_at"] = timezone.now() + dt.timedelta(days=int(expiry))
        else:
            data["expires_at"] = None
        return data
