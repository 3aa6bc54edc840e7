"""Two-factor sign-in (django-allauth's TOTP and recovery codes) where allauth's pages are not
the way in: the API's token endpoint, and the rule that moderators must have it on."""

from __future__ import annotations

from django.conf import settings

from apps.core.exceptions import ApplicationError


def totp_enabled(user) -> bool:
    """Has the account an authenticator app (TOTP) turned on?"""
    from allauth.mfa.models import Authenticator

    if user is None or user.pk is None:
        return False
    return Authenticator.objects.filter(user_id=user.pk, type=Authenticator.Type.TOTP).exists()


def second_factor_check(*, user, otp: str | None) -> None:
    """For a password sign-in outside the site (the token endpoint): when the account has TOTP
    on, ``otp`` must be a current code of its app or one of its unused recovery codes (used up
    by this). 401 ``not_authenticated`` otherwise, with a message asking for it."""
    from allauth.mfa.models import Authenticator

    if not totp_enabled(user):
        return
    otp = (otp or "").strip()
    if not otp:
        raise ApplicationError(
            "not_authenticated",
            "This account has two-factor sign-in on: send the current code of your "
            "authenticator app (or a recovery code) in otp.",
        )
    for authenticator in Authenticator.objects.filter(
        user_id=user.pk, type__in=[Authenticator.Type.TOTP, Authenticator.Type.RECOVERY_CODES]
    ):
        if authenticator.wrap().validate_code(otp):
            authenticator.record_usage()
            return
    raise ApplicationError(
        "not_authenticated", "Wrong or already used two-factor code (otp).", fields=None
    )


def required_for_moderators() -> bool:
    return bool(getattr(settings, "MFA_REQUIRED_FOR_MODERATORS", False))


def moderator_two_factor_missing(user) -> bool:
    """Must this moderator or admin still turn two-factor sign-in on before acting?"""
    return required_for_moderators() and not totp_enabled(user)


MODERATOR_TWO_FACTOR_MESSAGE = (
    "Moderators and admins must turn on two-factor sign-in (an authenticator app) before they "
    "can moderate."
)
