"""Short-lived signed links to media, for clients that cannot send credentials with a request
(an ``<img>`` in someone else's app, a download manager).

A link names the asset, the file and the viewer it was issued to, and expires after
``MEDIA_SIGNED_URL_TTL_S``. It is a capability, not a copy of the permission: the view checks
again, at every request, that this viewer may still see the asset, so a deleted post's media stop
at once even for links already handed out.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.urls import reverse

_SALT = "vivid.media.link"


@dataclass(frozen=True)
class SignedLink:
    asset_id: int
    variant: str
    viewer_id: int | None


class LinkExpired(Exception):
    pass


class LinkInvalid(Exception):
    pass


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=_SALT)


def sign(*, asset_id: int, variant: str, viewer_id: int | None) -> str:
    value = f"{asset_id}.{variant}.{viewer_id or 0}"
    return _signer().sign(value)


def signed_url(*, asset_id: int, variant: str, viewer_id: int | None) -> str:
    token = sign(asset_id=asset_id, variant=variant, viewer_id=viewer_id)
    return reverse("media:signed-file", kwargs={"token": token})


def unsign(token: str, *, max_age: float | None = None) -> SignedLink:
    """The link's contents, or LinkExpired / LinkInvalid."""
    ttl = settings.MEDIA_SIGNED_URL_TTL_S if max_age is None else max_age
    try:
        value = _signer().unsign(token, max_age=ttl)
    except signing.SignatureExpired as e:
        raise LinkExpired from e
    except signing.BadSignature as e:
        raise LinkInvalid from e
    asset_id, variant, viewer_id = value.split(".")
    return SignedLink(int(asset_id), variant, int(viewer_id) or None)
