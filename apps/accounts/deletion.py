"""Account deletion: gone for everyone at once, purged after a grace period, chains intact.

Two stages, because people change their minds and because a purge is long:

1. ``deletion_request`` (the person, with their password and second factor): in one transaction
   the account turns inactive and is stamped with ``deletion_requested_at`` and
   ``deletion_purge_at``. Every read path already hides inactive accounts and what they made
   (``Post.objects.visible_to``, ``Asset.objects.visible_to``, profiles, comments,
   notifications), so the account and its content answer 404 from that commit on. Its tokens are
   revoked, its Django sessions deleted, its sockets closed, and its recent posts leave open pages
   (``post.deleted``, as moderation announces a suspension).
2. ``account_purge`` (Celery beat, once ``deletion_purge_at`` has passed): rows and files go, in
   batches of ``ACCOUNT_DELETION_BATCH``, each batch its own transaction under the user row's
   lock. A worker that dies loses at most one batch's work, which the next run redoes: every step
   selects what is still there, so running it again continues where it stopped, and a finished
   purge is a no-op. Files are deleted before their rows' batch commits, so a crash leaves rows
   whose files are already gone (the rerun deletes them again, harmlessly), never files nobody
   points at any more.

What stays, and why: the user row, pseudonymised (``deleted-<id>``, no email, no profile, an
unusable password), because the append-only, signed chains (provenance records, consent events,
the moderation audit log: ``apps.core.ledger``) name it and can never be edited; an asset with a
provenance record (or on the moderation blocklist) stays as an empty row with its files gone, for
the same reason; a post that others remixed stays as an empty, removed row, so their remixes still
know they were remixes ("original deleted") and lineage keeps its shape with a placeholder.
Moderation's cases, strikes and suspensions stay too: they are the service's record, not the
person's content.

Until the purge starts, ``deletion_cancel`` (signing in on the site) brings everything back,
unless moderators suspended the account meanwhile.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable

from django.apps import apps
from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Q
from django.db.models.functions import Greatest
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy

from apps.accounts.models import AccessToken, DataExport, User
from apps.core import outbox, ratelimit
from apps.core.exceptions import ApplicationError
from apps.realtime.events import close_on_commit
from apps.realtime.groups import user_group
from apps.realtime.limits import CLOSE_AUTH

logger = logging.getLogger(__name__)

# Why a post or asset kept for the chains is out of sight (``removed_reason``).
REMOVED_REASON = "account_deleted"
# Posts announced as gone to open pages at the request (the ones sockets can be showing).
ANNOUNCE_RECENT = 200
# Comments announced as gone to the open pages of the posts they are under.
ANNOUNCE_COMMENTS = 50


def grace_days() -> int:
    return int(getattr(settings, "ACCOUNT_DELETION_GRACE_DAYS", 7))


def batch_size() -> int:
    return int(getattr(settings, "ACCOUNT_DELETION_BATCH", 200))


# --- checking the person -------------------------------------------------------------------------


def totp_authenticator(user: User):
    """The person's active TOTP authenticator (allauth.mfa), or None when they have none or
    two-factor sign-in is not installed."""
    if not apps.is_installed("allauth.mfa"):
        return None
    from allauth.mfa.models import Authenticator

    return Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()


def _invalid(field: str, message: str) -> ApplicationError:
    return ApplicationError(
        "invalid", gettext_lazy("Some fields are not valid."), fields={field: [message]}
    )


def _check_credentials(*, user: User, password: str, otp: str | None) -> None:
    """The password (counted as a log-in attempt on the account's counter, so deletion is no
    way around the log-in limit) and, with two-factor on, a current TOTP code."""
    key = ratelimit.username_key(user.username)
    ratelimit.limit_take("login_account", key=key)
    if not user.check_password(password or ""):
        raise _invalid("password", "Wrong password.")
    authenticator = totp_authenticator(user)
    if authenticator is not None:
        from allauth.mfa.totp.internal.auth import TOTP

        code = (otp or "").strip().replace(" ", "")
        if not code:
            raise _invalid("otp", "Enter the code from your authenticator app.")
        if not TOTP(authenticator).validate_code(code):
            raise _invalid("otp", "That code is not right, or has expired.")
    ratelimit.rate_limit_give_back(scope="login_account", key=key)


# --- stage 1: the request ------------------------------------------------------------------------


def deletion_request(*, user: User, password: str, otp: str | None = None) -> User:
    """Delete an account: checked by password (and TOTP code when two-factor is on), it is gone
    for everyone at once and purged after ``ACCOUNT_DELETION_GRACE_DAYS``.

    In the request's transaction: the account turns inactive (every read path hides it and what
    it made), its tokens are revoked and its sessions deleted; after commit its sockets close and
    its recent posts leave open pages. Wrong credentials change nothing (400 ``invalid`` naming
    the field) and count as a failed log-in on the account.
    """
    _check_credentials(user=user, password=password, otp=otp)
    now = timezone.now()
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        if locked.deletion_requested_at is None:
            locked.deletion_requested_at = now
            locked.deletion_purge_at = now + dt.timedelta(days=grace_days())
        locked.is_active = False
        locked.save(update_fields=["deletion_requested_at", "deletion_purge_at", "is_active"])
        AccessToken.objects.filter(user=locked, revoked_at__isnull=True).update(revoked_at=now)
        sessions_end(user_id=locked.pk, scan=False)
        from apps.accounts.tasks import deletion_sessions_end

        # The sessions the list does not know (made before it existed) are found by reading the
        # whole session table: not in the request (about 30 µs a session, measured: seconds on a
        # large site, with the user row locked), but right after it. Until then they do not
        # authenticate anyway (the account is inactive).
        outbox.send_on_commit(deletion_sessions_end, locked.pk)
        close_on_commit(user_group(locked.pk), CLOSE_AUTH)
        _announce_posts_gone(locked)
        _announce_comments_gone(locked)
        _jobs_cancel(locked)
    for name in ("deletion_requested_at", "deletion_purge_at", "is_active"):
        setattr(user, name, getattr(locked, name))
    return user


def _announce_posts_gone(user: User) -> None:
    from apps.posts.models import Post
    from apps.posts.tasks import fanout_post_deleted

    recent = (
        Post.objects.filter(author_id=user.pk, removed_at__isnull=True)
        .order_by("-id")
        .values_list("id", "visibility")[:ANNOUNCE_RECENT]
    )
    for post_id, visibility in recent:
        outbox.send_on_commit(fanout_post_deleted, post_id, user.pk, visibility)


def _jobs_cancel(user: User) -> None:
    """Generations still queued or running stop (a queued one is refunded): nobody will see
    what they make. They stay canceled if the deletion is."""
    from apps.generation.models import GenerationJob
    from apps.generation.services import job_cancel

    unfinished = GenerationJob.objects.filter(
        owner_id=user.pk,
        status__in=[GenerationJob.Status.QUEUED, GenerationJob.Status.RUNNING],
    ).values_list("id", flat=True)
    for job_id in list(unfinished):
        try:
            job_cancel(owner=user, job_id=job_id)
        except ApplicationError:  # it finished meanwhile
            continue


def _announce_comments_gone(user: User) -> None:
    """The person's most recent comments leave the open pages of the posts they are under, as
    a deleted comment does (``comment.deleted``)."""
    from apps.posts.models import Comment
    from apps.realtime.events import publish_on_commit
    from apps.realtime.groups import post_group

    recent = (
        Comment.objects.filter(author_id=user.pk, removed_at__isnull=True)
        .order_by("-id")
        .values_list("id", "post_id")[:ANNOUNCE_COMMENTS]
    )
    for comment_id, post_id in recent:
        publish_on_commit(
            post_group(post_id),
            "comment.deleted",
            f"post:{post_id}",
            {"post_id": str(post_id), "comment_id": str(comment_id)},
        )


def sessions_end(*, user_id: int, scan: bool = True) -> int:
    """Delete every Django session signed in as ``user_id``; returns how many.

    allauth's session list names the sessions it has seen (an index lookup); with ``scan`` (or
    without that list) the stored sessions are also read and decoded, since the session table
    has no user column. Sessions kept elsewhere than the database (cache or signed cookies) end
    anyway: an inactive account's session no longer authenticates (``ModelBackend.get_user``)."""
    from importlib import import_module

    engine = import_module(settings.SESSION_ENGINE)
    store = engine.SessionStore
    keys: list[str] = []
    if apps.is_installed("allauth.usersessions"):
        from allauth.usersessions.models import UserSession

        keys = list(
            UserSession.objects.filter(user_id=user_id).values_list("session_key", flat=True)
        )
    get_model = getattr(store, "get_model_class", None)
    if get_model is not None and (scan or not apps.is_installed("allauth.usersessions")):
        model = get_model()
        wanted = str(user_id)
        rows = model.objects.filter(expire_date__gt=timezone.now()).values_list(
            "session_key", "session_data"
        )
        decoder = store()
        for session_key, data in rows.iterator(chunk_size=2000):
            if decoder.decode(data).get("_auth_user_id") == wanted:
                keys.append(session_key)
    for session_key in set(keys):
        store(session_key=session_key).delete()
    return len(set(keys))


# --- cancelling ---------------------------------------------------------------------------------


def deletion_sessions_end(*, user_id: int) -> int:
    """After a deletion request: end the sessions the session list did not name (a scan of
    the session table), unless the deletion was cancelled meanwhile."""
    with transaction.atomic():
        user = User.objects.select_for_update().filter(pk=user_id).first()
        if user is None or user.deletion_requested_at is None:
            return 0
        return sessions_end(user_id=user_id)


def _suspended(user: User) -> bool:
    from apps.moderation.models import Suspension

    return Suspension.objects.filter(
        Q(until__isnull=True) | Q(until__gt=timezone.now()), user=user, lifted_at__isnull=True
    ).exists()


def deletion_cancel(*, user: User) -> User:
    """Take back a deletion request during the grace period (signing in on the site does it):
    the account and everything it made come back. Tokens stay revoked: new ones are made.

    Refused (403 ``forbidden``, nothing changes) while moderators have the account suspended,
    and (409 ``conflict``) once the grace period is over and the purge may have begun. An
    account with no pending deletion is returned as it is."""
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        if locked.deleted_at is not None:
            raise ApplicationError("not_found", gettext_lazy("Not found."))
        if locked.deletion_requested_at is None:
            return locked
        if locked.deletion_purge_at is not None and locked.deletion_purge_at <= timezone.now():
            raise ApplicationError(
                "conflict", gettext_lazy("The grace period is over: this account is being deleted.")
            )
        if _suspended(locked):
            raise ApplicationError(
                "forbidden",
                gettext_lazy(
                    "This account is suspended by the moderators; its deletion cannot be cancelled "
                    "while the suspension lasts."
                ),
            )
        locked.deletion_requested_at = None
        locked.deletion_purge_at = None
        locked.is_active = True
        locked.save(update_fields=["deletion_requested_at", "deletion_purge_at", "is_active"])
        _announce_posts_back(locked)
    for name in ("deletion_requested_at", "deletion_purge_at", "is_active"):
        setattr(user, name, getattr(locked, name))
    return user


def _announce_posts_back(user: User) -> None:
    from apps.posts.models import Post
    from apps.posts.tasks import fanout_post_created

    recent = (
        Post.objects.filter(author_id=user.pk, removed_at__isnull=True)
        .order_by("-id")
        .values_list("id", flat=True)[:20]
    )
    for post_id in recent:
        outbox.send_on_commit(fanout_post_created, post_id)


# --- stage 2: the purge ---------------------------------------------------------------------------


def deletions_due(*, now: dt.datetime | None = None, limit: int = 100) -> list[int]:
    """Ids of accounts whose grace period is over and whose purge has not finished."""
    now = now or timezone.now()
    return list(
        User.objects.filter(
            deletion_requested_at__isnull=False,
            deletion_purge_at__lte=now,
            deleted_at__isnull=True,
        )
        .order_by("deletion_purge_at")
        .values_list("id", flat=True)[:limit]
    )


class _Stop(Exception):
    """The account is no longer due (cancelled, or already purged): stop quietly."""


def _locked_due(user_id: int) -> User:
    user = User.objects.select_for_update().filter(pk=user_id).first()
    if (
        user is None
        or user.deletion_requested_at is None
        or user.deleted_at is not None
        or user.deletion_purge_at is None
        or user.deletion_purge_at > timezone.now()
    ):
        raise _Stop
    return user


def _in_batches(user_id: int, step: Callable[[User, int], int]) -> int:
    """Run ``step(user, batch)`` in its own transaction, under the user row's lock, until it
    reports that nothing was left (0). Returns how many rows it handled in all."""
    done = 0
    while True:
        with transaction.atomic():
            user = _locked_due(user_id)
            handled = step(user, batch_size())
        done += handled
        if not handled:
            return done


def account_purge(*, user_id: int) -> dict[str, int]:
    """Delete what a deleted account made, batch by batch, then pseudonymise its row.

    Safe to run again at any point (each step takes what is still there) and concurrently (each
    batch holds the user row's lock); a no-op for an account not due or already purged. Returns
    the number of rows handled per step."""
    steps: list[tuple[str, Callable[[User, int], int]]] = [
        ("tokens", _purge_tokens),
        ("notifications", _purge_notifications),
        ("reactions", _purge_reactions),
        ("comments", _purge_comments),
        ("graph", _purge_graph),
        ("collections", _purge_collections),
        ("posts", _purge_posts),
        ("jobs", _purge_jobs),
        ("avatar", _purge_avatar),
        ("assets", _purge_assets),
        ("exports", _purge_exports),
        ("consent", _purge_consent),
        ("idempotency", _purge_idempotency),
        ("sign_in", _purge_sign_in),
    ]
    counts: dict[str, int] = {}
    try:
        for name, step in steps:
            counts[name] = _in_batches(user_id, step)
        with transaction.atomic():
            _pseudonymise(_locked_due(user_id))
    except _Stop:
        return counts
    logger.info("account %s purged: %s", user_id, counts)
    return counts


def _ids(queryset, batch: int) -> list[int]:
    return list(queryset.order_by("pk").values_list("pk", flat=True)[:batch])


def _purge_tokens(user: User, batch: int) -> int:
    ids = _ids(AccessToken.objects.filter(user=user), batch)
    AccessToken.objects.filter(pk__in=ids).delete()
    return len(ids)


def _purge_notifications(user: User, batch: int) -> int:
    from apps.notifications.models import Notification, NotificationActor

    links = _ids(NotificationActor.objects.filter(actor=user), batch)
    NotificationActor.objects.filter(pk__in=links).delete()
    ids = _ids(Notification.objects.filter(Q(recipient=user) | Q(actor=user)), batch)
    Notification.objects.filter(pk__in=ids).delete()
    return len(links) + len(ids)


def _purge_reactions(user: User, batch: int) -> int:
    """The person's reactions, and the counts they added to others' posts."""
    from apps.posts.models import Reaction
    from apps.posts.services import _counts_update

    rows = list(
        Reaction.objects.filter(user=user)
        .order_by("pk")
        .values_list("pk", "post_id", "kind")[:batch]
    )
    Reaction.objects.filter(pk__in=[pk for pk, _, _ in rows]).delete()
    per_post: dict[int, dict[str, int]] = {}
    for _, post_id, kind in rows:
        deltas = per_post.setdefault(post_id, {})
        deltas[f"{kind}_count"] = deltas.get(f"{kind}_count", 0) - 1
    for post_id in sorted(per_post):
        _counts_update(post_id, **per_post[post_id])
    return len(rows)


def _purge_comments(user: User, batch: int) -> int:
    """The person's comments on others' posts (replies to them go too, as when a comment is
    deleted), and the counts they added. Comments on their own posts go with the posts."""
    from apps.posts.models import Comment, Post

    rows = list(
        Comment.objects.filter(author=user)
        .exclude(post__author=user)
        .order_by("pk")
        .values_list("pk", "post_id")[:batch]
    )
    ids = [pk for pk, _ in rows]
    gone: dict[int, int] = {}
    for post_id, count in (
        Comment.objects.filter(Q(pk__in=ids) | Q(parent_id__in=ids))
        .values_list("post_id")
        .annotate(n=Count("pk"))
        .order_by()
    ):
        gone[post_id] = count
    Comment.objects.filter(pk__in=ids).delete()
    for post_id in sorted(gone):
        Post.objects.filter(pk=post_id).update(
            comments_count=Greatest(F("comments_count") - gone[post_id], 0)
        )
    return len(ids)


def _purge_graph(user: User, batch: int) -> int:
    from apps.social.models import Block, Follow, FollowRequest, Mute

    handled = 0
    for model, q in (
        (Follow, Q(follower=user) | Q(followee=user)),
        (FollowRequest, Q(requester=user) | Q(target=user)),
        (Block, Q(blocker=user) | Q(blocked=user)),
        (Mute, Q(muter=user) | Q(muted=user)),
    ):
        ids = _ids(model.objects.filter(q), batch - handled)
        model.objects.filter(pk__in=ids).delete()
        handled += len(ids)
        if handled >= batch:
            break
    return handled


def _purge_collections(user: User, batch: int) -> int:
    """The person's collections (their items go with them)."""
    if not apps.is_installed("apps.collections"):
        return 0
    from apps.collections.models import Collection

    ids = _ids(Collection.objects.filter(owner=user), batch)
    Collection.objects.filter(pk__in=ids).delete()
    return len(ids)


def _purge_posts(user: User, batch: int) -> int:
    """The person's posts. One that others remixed stays as an empty, removed row, so their
    remixes still say they are remixes ("original deleted") and lineage keeps its shape."""
    from apps.notifications.models import Notification
    from apps.posts.models import Comment, Post, PostTag, Reaction
    from apps.posts.services import _counts_update

    posts = list(
        Post.objects.filter(author=user)
        .exclude(removed_reason=REMOVED_REASON)
        .order_by("pk")
        .values_list("pk", "remix_of_id")[:batch]
    )
    ids = [pk for pk, _ in posts]
    remixed = set(
        Post.objects.filter(remix_of_id__in=ids)
        .exclude(author=user)
        .values_list("remix_of_id", flat=True)
    )
    kept = [pk for pk in ids if pk in remixed]
    if kept:
        Reaction.objects.filter(post_id__in=kept).delete()
        Comment.objects.filter(post_id__in=kept).delete()
        PostTag.objects.filter(post_id__in=kept).delete()
        Notification.objects.filter(post_id__in=kept).delete()
        if apps.is_installed("apps.collections"):  # others' collections no longer hold them
            from apps.collections.models import CollectionItem

            CollectionItem.objects.filter(post_id__in=kept).delete()
        Post.objects.filter(pk__in=kept).update(
            caption="",
            removed_at=timezone.now(),
            removed_reason=REMOVED_REASON,
            **{f"{kind}_count": 0 for kind in ("like", "love", "haha", "wow", "fire")},
            comments_count=0,
        )
    # A remix of someone else's post no longer counts among its remixes.
    for pk, parent_id in posts:
        if (
            parent_id
            and pk not in remixed
            and Post.objects.filter(pk=parent_id, remix_count__gt=0).exclude(author=user).exists()
        ):
            _counts_update(parent_id, remix_count=-1)
    if apps.is_installed("apps.search"):  # their text leaves the search storage too
        from apps.search.services import post_unindex

        for pk in ids:
            post_unindex(post_id=pk)
    Post.objects.filter(pk__in=[pk for pk in ids if pk not in remixed]).delete()
    return len(ids)


def _purge_jobs(user: User, batch: int) -> int:
    from apps.generation.models import GenerationJob

    ids = _ids(GenerationJob.objects.filter(owner=user), batch)
    GenerationJob.objects.filter(pk__in=ids).delete()
    return len(ids)


def _purge_avatar(user: User, batch: int) -> int:
    if user.avatar_id is None:
        return 0
    User.objects.filter(pk=user.pk).update(avatar=None)
    return 1


def _asset_kept_for_chains(asset_id: int) -> bool:
    """Is the asset named by a row that must outlive it: its provenance record (append-only),
    a blocklist entry, a post kept for others' remixes or someone else's edit?"""
    from apps.generation.models import JobInput
    from apps.moderation.models import MediaBlock
    from apps.posts.models import Post
    from apps.provenance.models import ProvenanceRecord

    return (
        ProvenanceRecord.objects.filter(asset_id=asset_id).exists()
        or MediaBlock.objects.filter(asset_id=asset_id).exists()
        or Post.objects.filter(asset_id=asset_id).exists()
        or JobInput.objects.filter(asset_id=asset_id).exists()
    )


def _files_of(asset) -> set[str]:
    from apps.provenance.c2pa_models import CredentialedFile

    paths = {asset.original, *(asset.variants or {}).values()}
    paths |= set(CredentialedFile.objects.filter(asset=asset).values_list("path", flat=True))
    return {p for p in paths if p}


def _files_delete(paths: Iterable[str], *, sha256: str, asset_id: int) -> None:
    """Delete an asset's files from storage, unless another asset with the same content (files
    are addressed by content) still uses them."""
    from django.core.files.storage import default_storage

    from apps.media.models import Asset

    if sha256 and Asset.objects.filter(sha256=sha256).exclude(pk=asset_id).exists():
        return
    for path in paths:
        default_storage.delete(path)


def _purge_assets(user: User, batch: int) -> int:
    """Every file of every asset (original, each variant, each signed copy), then the row; a
    row the chains name stays, emptied and removed."""
    from apps.media.models import Asset
    from apps.provenance.c2pa_models import CredentialedFile
    from apps.provenance.matching_models import PerceptualKey

    assets = list(
        Asset.objects.filter(owner=user)
        .exclude(removed_reason=REMOVED_REASON)
        .order_by("pk")[:batch]
    )
    for asset in assets:
        # Files first: should this batch not commit, the rerun finds the rows and deletes again.
        _files_delete(_files_of(asset), sha256=asset.sha256, asset_id=asset.pk)
        CredentialedFile.objects.filter(asset=asset).delete()
        PerceptualKey.objects.filter(asset=asset).delete()
        if _asset_kept_for_chains(asset.pk):
            Asset.objects.filter(pk=asset.pk).update(
                removed_at=asset.removed_at or timezone.now(),
                removed_reason=REMOVED_REASON,
                original="",
                variants={},
                sha256="",
                phash="",
                placeholder="",
            )
        else:
            asset.delete()
    return len(assets)


def _purge_exports(user: User, batch: int) -> int:
    from django.core.files.storage import default_storage

    rows = list(DataExport.objects.filter(user=user).order_by("pk")[:batch])
    for export in rows:
        if export.file_name:
            default_storage.delete(export.file_name)
    DataExport.objects.filter(pk__in=[e.pk for e in rows]).delete()
    return len(rows)


def _purge_consent(user: User, batch: int) -> int:
    """Approvals to use one's likeness go both ways; the consent events stay (signed chain)."""
    from apps.consent.models import LikenessApproval

    ids = _ids(LikenessApproval.objects.filter(Q(owner=user) | Q(approved=user)), batch)
    LikenessApproval.objects.filter(pk__in=ids).delete()
    return len(ids)


def _purge_idempotency(user: User, batch: int) -> int:
    from apps.core.models import IdempotencyRecord

    ids = _ids(IdempotencyRecord.objects.filter(user=user), batch)
    IdempotencyRecord.objects.filter(pk__in=ids).delete()
    return len(ids)


def _purge_sign_in(user: User, batch: int) -> int:
    """What django-allauth keeps: email addresses, two-factor authenticators (secrets, recovery
    codes) and the session list (addresses, browsers)."""
    handled = 0
    for app, model_path in (
        ("allauth.account", "allauth.account.models.EmailAddress"),
        ("allauth.mfa", "allauth.mfa.models.Authenticator"),
        ("allauth.usersessions", "allauth.usersessions.models.UserSession"),
    ):
        if not apps.is_installed(app):
            continue
        model = import_string(model_path)
        ids = _ids(model.objects.filter(user=user), batch)
        model.objects.filter(pk__in=ids).delete()
        handled += len(ids)
    return handled


def _pseudonymise(user: User) -> None:
    """The row the signed chains name stays, with nothing left that says who the person was."""
    user.username = f"deleted-{user.pk}"
    user.email = ""
    user.first_name = ""
    user.last_name = ""
    user.display_name = ""
    user.bio = ""
    user.links = []
    user.avatar = None
    user.is_active = False
    user.set_unusable_password()
    user.deleted_at = timezone.now()
    user.save()
