"""How django-allauth's account flows fit Vivid.

allauth runs email confirmation, password reset, two-factor sign-in and the session list; this
adapter keeps Vivid's own rules inside them:

- every password check counts against Vivid's log-in limits (``apps.core.ratelimit``), the
  same counters as the API's token endpoint; allauth's own log-in counters are off (settings);
- a new password (changed, or reset by email) closes every socket of the account, as
  ``services.user_password_change`` does, and logging out closes the session's sockets;
- the right password (and second factor) on an account whose deletion is pending, within its
  grace period, logs the person in and cancels the deletion; other inactive accounts
  (suspended) stay refused;
- ending a session from the session list closes that session's sockets.
"""

from __future__ import annotations

import logging
import smtplib

from allauth.account.adapter import DefaultAccountAdapter
from allauth.usersessions.adapter import DefaultUserSessionsAdapter
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from apps.core import ratelimit
from apps.core.exceptions import ApplicationError
from apps.realtime.events import close_on_commit
from apps.realtime.groups import session_group, user_group
from apps.realtime.limits import CLOSE_AUTH

logger = logging.getLogger(__name__)

RETRY_AFTER_ATTR = "_vivid_login_retry_after"


class _WrongPassword(Exception):
    """A failed password check, so that ``login_attempt`` keeps the slot it took."""


def deletion_cancellable(user) -> bool:
    """Is the account's deletion pending and still inside its grace period?"""
    purge_at = getattr(user, "deletion_purge_at", None)
    return (
        getattr(user, "deletion_requested_at", None) is not None
        and getattr(user, "deleted_at", None) is None
        and purge_at is not None
        and purge_at > timezone.now()
    )


def email_confirmation_missing(user) -> bool:
    """Has the account an email address waiting for confirmation and none confirmed?

    Accounts made before email confirmation existed (or by an operator) have no address rows
    and count as confirmed; every sign-up, on the site or the API, records its address."""
    from allauth.account.models import EmailAddress

    addresses = list(
        EmailAddress.objects.filter(user_id=user.pk).values_list("verified", flat=True)
    )
    return bool(addresses) and not any(addresses)


def email_confirmation_send(*, request, user) -> None:
    """Record a new account's address as its primary one, unconfirmed, and email it a
    confirmation link (the API's sign-up; the site's goes through allauth's sign-up flow)."""
    from allauth.account.utils import setup_user_email

    address = setup_user_email(request, user, [])
    if address is not None and not address.verified:
        address.send_confirmation(request, signup=True)


def publish_allowed_check(*, user) -> None:
    """403 ``forbidden`` when the account may not publish before confirming its email
    (``ACCOUNT_CONFIRMATION_REQUIRED_TO_PUBLISH``)."""
    if not getattr(settings, "ACCOUNT_CONFIRMATION_REQUIRED_TO_PUBLISH", False):
        return
    if email_confirmation_missing(user):
        raise ApplicationError(
            "forbidden",
            "Confirm your email address before publishing: open the link we emailed you, "
            f"or send a new one from {reverse('account_email')}.",
        )


class AccountAdapter(DefaultAccountAdapter):
    def authenticate(self, request, **credentials):
        """allauth's password check (log-in form, reauthentication), inside Vivid's log-in
        limits: past them, a form error with code ``rate_limited`` and no password checked."""
        username = credentials.get("username") or credentials.get("email") or ""
        try:
            with ratelimit.login_attempt(
                username=username, address=ratelimit.client_address(request)
            ):
                user = super().authenticate(request, **credentials)
                if user is None:
                    raise _WrongPassword
            return user
        except _WrongPassword:
            return None
        except ApplicationError as e:
            if e.code != "rate_limited":
                raise
            setattr(request, RETRY_AFTER_ATTR, e.retry_after)
            raise ValidationError(e.message, code="rate_limited") from e

    def pre_authenticate(self, request, **credentials) -> None:
        """allauth's count of failed passwords is off: ``authenticate`` counts them in Vivid's
        limits. (Its ``login_failed`` limit still counts wrong two-factor codes.)"""
        self._login_failed_rl_usage = None

    def send_mail(self, template_prefix: str, email: str, context: dict) -> None:
        """Send, but a mail server that is down or refuses does not fail the request (a sign-up
        stays made, a reset answers the same): it is logged, and the email page resends."""
        try:
            super().send_mail(template_prefix, email, context)
        except (smtplib.SMTPException, OSError):
            logger.exception("Could not send the %s email", template_prefix.rsplit("/", 1)[-1])

    def get_client_ip(self, request) -> str:
        """The address Vivid's own limits count by (``REMOTE_ADDR``, set from a trusted proxy's
        header by uvicorn's --proxy-headers)."""
        return request.META.get("REMOTE_ADDR", "") or "unknown"

    def pre_login(self, request, user, **kwargs):
        # Deletion pending: go on to the second factor; ``login`` cancels the deletion.
        if not user.is_active and deletion_cancellable(user):
            return None
        return super().pre_login(request, user, **kwargs)

    def login(self, request, user) -> None:
        if not user.is_active and deletion_cancellable(user):
            from apps.accounts.deletion import deletion_cancel

            try:
                user = deletion_cancel(user=user)
            except ApplicationError as e:  # suspended meanwhile, or the purge has begun
                from allauth.account.internal.stagekit import clear_login
                from allauth.core.exceptions import ImmediateHttpResponse

                clear_login(request)
                messages.error(request, e.message)
                raise ImmediateHttpResponse(self.respond_user_inactive(request, user)) from e
            messages.success(
                request, "Welcome back. Your account's deletion is cancelled; nothing was lost."
            )
        super().login(request, user)

    def logout(self, request) -> None:
        """Log out, and close the sockets this session opened (not other devices')."""
        key = request.session.session_key
        super().logout(request)
        if key:
            close_on_commit(session_group(key), CLOSE_AUTH)

    def set_password(self, user, password: str) -> None:
        """A new password (changed or reset): a socket must not outlive the credentials it was
        opened with, so every socket of the account closes."""
        with transaction.atomic():
            super().set_password(user, password)
            close_on_commit(user_group(user.pk), CLOSE_AUTH)


class UserSessionsAdapter(DefaultUserSessionsAdapter):
    def end_sessions(self, sessions) -> None:
        """End sessions from the list ("log out everywhere else"), closing their sockets."""
        for session in sessions:
            key = session.session_key
            session.end()
            close_on_commit(session_group(key), CLOSE_AUTH)
