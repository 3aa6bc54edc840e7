"""Live delivery of feed changes to open sockets (``feed`` queue tasks; small audiences in process).

A new post goes to the ``public`` group when it is public, and to the ``user.<id>`` group of the
author and of each follower the visibility rule lets see it (stream ``home``), but only to those
who are online right now (``apps.realtime.presence``): a creator with 100k followers of whom 1k
have a socket open sends 1k messages, not 100k. Followers are read from the database and asked
about in batches. The event is serialised to JSON once and the same text goes to every group;
each socket only checks the author against its owner's blocks and mutes before forwarding it.

Events are hints: the feed API is the truth, and a client that missed one catches up with
``since=``.

Small audiences skip the queue. The web process that publishes a post delivers it itself when
the author has at most ``REALTIME_INLINE_MAX`` followers, or while at most that many people are
online at all. As soon as the post row exists, its delivery thread reads the followers and
serialises the event while the request finishes and commits (``post_created_prepare``); after
commit the thread claims the online recipients and the public stream and publishes the
multicast to them in one Redis script, one round trip (``post_created_after_commit``). The
request never waits for it, nothing is sent before commit, and after a rollback the prepared
event is dropped. Larger
audiences, a backlog of ``INLINE_BACKLOG_MAX`` posts and any failure go to the ``feed`` queue.
The queue hop (broker, worker, reading and serialising the post again) was most of the time to
the last socket: 35 ms at 100 followers against 4.4 ms for a bare Redis broadcast. In process,
on a shared 2-core machine (load 4-5), p50 12.8 ms against 3.5 ms at N = 100, 57 against 41
at 1,000, 191 against 170 at 3,000 (``tests/bench/realtime.py``, docs/realtime.md). The claim
and publish after commit take 1-2 ms of that at N = 100 when the thread runs at once; the web
processes write their frames in about 1 ms; the rest is the hops between processes. A post
taken down in the milliseconds between commit and this delivery is announced and then removed
by the takedown's own ``post.deleted``.

Exactly once, whichever path and however often it runs: the post's fan-out task is recorded in
the publish's own transaction (``outbox.record``); the in-process path marks it done only after
it delivered, so a failure or a process that dies hands the post to the queue (at once, or by
the outbox relay a few seconds later). Each recipient is claimed before it is sent to, in one
Redis set per post (``SADD``, kept ``CLAIM_TTL_S``): a second run, a retry after a Redis
failure or a task racing the in-process path sends only to people nobody claimed yet. A send
that fails gives its claims back before the error goes up.
"""

from __future__ import annotations

import copy
import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from typing import Any, NamedTuple

import redis
from django.conf import settings
from django.db import connection

from apps.core import outbox
from apps.core.models import OutboxMessage
from apps.core.transient import TRANSIENT_ERRORS
from apps.posts.models import Post
from apps.realtime import groups, multicast, outage, presence
from apps.realtime.events import prepared_message, send_many, send_now, send_to_users
from apps.social.models import Follow

logger = logging.getLogger(__name__)

BATCH = 5000
# Above this many people online, big creators' followers are checked batch by batch instead.
ONLINE_SIDE_MAX = 50_000
# Posts waiting for this process's delivery thread; past this, new ones go to the queue.
INLINE_BACKLOG_MAX = 200
# How long a post's claimed recipients are remembered: longer than any resend (the relay after
# seconds, task retries within a minute, a task redelivered after a worker died within an hour).
CLAIM_TTL_S = 3600
# The in-process path publishes its multicast inside the claim's Redis script (one round trip);
# False: claim, then ``send_to_users`` (what a test capturing the sends needs).
PUBLISH_IN_CLAIM = True


def _followers(author_id: int) -> Iterator[list[int]]:
    """The author's followers in batches, by keyset on the (followee, follower) index."""
    after = 0
    while True:
        batch = list(
            Follow.objects.filter(followee_id=author_id, follower_id__gt=after)
            .order_by("follower_id")
            .values_list("follower_id", flat=True)[:BATCH]
        )
        if not batch:
            return
        yield batch
        if len(batch) < BATCH:
            return
        after = batch[-1]


def _has_followers(author_id: int, count: int) -> bool:
    """Whether the author has at least ``count`` followers: one index lookup at that offset,
    not the ids of the first ``count`` read only to be counted."""
    return (
        Follow.objects.filter(followee_id=author_id)
        .order_by("follower_id")
        .values_list("follower_id", flat=True)[count - 1 : count]
        .exists()
    )


def _following_among(author_id: int, user_ids: list[int]) -> list[int]:
    """Those of ``user_ids`` who follow ``author_id``. On PostgreSQL the ids go as one array
    parameter (``= ANY``): 5,000 of them in a third of the time of an ``IN`` list (12 against
    38 ms, most of it building and binding 5,000 placeholders)."""
    if not user_ids:
        return []
    if connection.vendor != "postgresql":
        return list(
            Follow.objects.filter(followee_id=author_id, follower_id__in=user_ids).values_list(
                "follower_id", flat=True
            )
        )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT follower_id FROM {Follow._meta.db_table}"
            " WHERE followee_id = %s AND follower_id = ANY(%s)",
            [author_id, user_ids],
        )
        return [row[0] for row in cursor.fetchall()]


def _online_followers(author_id: int) -> Iterator[list[int]]:
    """The author's followers who are online, in batches, from whichever side is smaller.

    Most authors have fewer followers than there are people online: their followers are read
    in batches and Redis is asked which are online. A creator with more followers than one
    batch, while fewer than ``ONLINE_SIDE_MAX`` people are online at all, is intersected from the
    other side: the online people are read from Redis and the database keeps those who follow
    (100k followers with 1k online: one Redis read and one query instead of 20 of each).
    """
    if _has_followers(author_id, BATCH) and presence.online_count() <= ONLINE_SIDE_MAX:
        online = presence.online_users()
        for start in range(0, len(online), BATCH):
            found = _following_among(author_id, online[start : start + BATCH])
            if found:
                yield found
        return
    for batch in _followers(author_id):
        online = presence.online_among(batch)
        if online:
            yield online


def _home_recipients_online(author_id: int, visibility: str) -> Iterator[list[int]]:
    """Batches of the online people whose home feed shows the post: the author, and followers
    unless it is private."""
    yield presence.online_among([author_id])
    if visibility in (Post.Visibility.PUBLIC, Post.Visibility.FOLLOWERS):
        yield from _online_followers(author_id)


def _send_home(author_id: int, visibility: str, message: dict) -> int:
    """To the online recipients, batch by batch (``_send_home_batch``)."""
    sent = 0
    for online in _home_recipients_online(author_id, visibility):
        sent += _send_home_batch(online, message)
    return sent


def _post(post_id: int) -> Post | None:
    """The post to announce, or None when it was deleted or taken down before fan-out ran."""
    return (
        Post.objects.select_related("author", "asset")
        .filter(id=post_id, removed_at__isnull=True)
        .first()
    )


def post_created(*, post_id: int, resend: bool = False) -> int:
    """Send ``post.created`` (the ``feed`` task); returns to how many groups it went this time
    (recipients already claimed by an earlier run are not sent to again).

    ``resend``: the second pass after a Redis restart goes to everyone online, claimed or not.
    Pages that were still coming back in the first pass were claimed and sent to while their
    socket or their process's multicast subscription was not there yet; they de-duplicate the
    second hint by id."""
    started = time.monotonic()
    post = _post(post_id)
    if post is None:
        return 0
    presence.prune()
    online = _home_recipients_online(post.author_id, post.visibility)
    sent = _announce(post, online, resend=resend)
    _log(post, sent, started, "queue")
    presence.rebuilding()  # after a Redis restart: once more for the pages still coming back
    return sent


def _log(post: Post, sent: int, started: float, path: str) -> None:
    logger.info(
        "post.created %s (%s): %d recipients in %.1f ms, %.0f ms after the post was created",
        post.id,
        path,
        sent,
        (time.monotonic() - started) * 1000,
        (time.time() - post.created_at.timestamp()) * 1000,
    )


def _messages(post: Post) -> tuple[dict, dict]:
    """The ``public`` and ``home`` messages, the post serialised once for both."""
    from apps.posts.serializers import PostOut
    from apps.provenance.selectors import record_ids_for_assets

    # One lookup of the provenance record, for the post and its asset alike.
    record = record_ids_for_assets(asset_ids=[post.asset_id]).get(post.asset_id)
    post.asset_provenance_id = record
    post.asset._provenance_id = record
    payload = {"post": PostOut(post).data, "cursor": str(post.id)}
    meta = {"author_id": post.author_id}
    return (
        prepared_message("post.created", "public", payload, **meta),
        prepared_message("post.created", "home", payload, **meta),
    )


def _is_public(post: Post) -> bool:
    """The public stream carries what anyone may see: public posts of public accounts."""
    return post.visibility == Post.Visibility.PUBLIC and not post.author.is_private


def _announce(post: Post, home_batches: Iterable[list[int]], *, resend: bool = False) -> int:
    """``post.created`` to the public stream and to the given online home recipients, each
    only if no earlier run claimed them (``resend``: to each all the same, claiming them)."""
    public, home = _messages(post)
    key = _claim_key(post.id)
    sent = 0
    if _is_public(post) and (_claim(key, [PUBLIC_MEMBER]) or resend):
        send_now(groups.PUBLIC, public)
        sent += 1
    for online in home_batches:
        if resend:
            _claim(key, online)
        sent += _send_home_batch(online, home, claim=None if resend else key)
    return sent


# --- exactly once: recipients claimed per post --------------------------------------------------

PUBLIC_MEMBER = "public"
# ARGV: ttl, then the members; claims them all and returns the positions (from 1) of those
# claimed before. Two commands on the whole set, not one per member: a claim of 5,000 people
# took 19 ms as a SADD each, most of it the script's loop and 5,000 replies.
_CLAIM = """
local before = {}
local seen = redis.call('SMISMEMBER', KEYS[1], unpack(ARGV, 2))
for i = 1, #seen do
  if seen[i] == 1 then before[#before + 1] = i end
end
redis.call('SADD', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return before
"""
_redis_client: tuple[int, redis.Redis] | None = None


def _redis() -> redis.Redis:
    global _redis_client
    if _redis_client is None or _redis_client[0] != os.getpid():
        _redis_client = (os.getpid(), redis.Redis.from_url(settings.REDIS_URL, socket_timeout=10))
    return _redis_client[1]


def _claim_key(post_id: int) -> str:
    prefix = settings.CHANNEL_LAYERS["default"].get("CONFIG", {}).get("prefix", "vivid")
    return f"{prefix}:fanout:created:{post_id}"


def _claim(key: str, members: list[Any]) -> list[Any]:
    """The members nobody claimed yet for this post, now claimed by the caller."""
    members = list(dict.fromkeys(members))  # each once: the script tells apart by position
    if not members:
        return []
    new: list[Any] = []
    for start in range(0, len(members), BATCH):  # within Lua's limit on unpacked arguments
        chunk = members[start : start + BATCH]
        before = set(_redis().eval(_CLAIM, 1, key, CLAIM_TTL_S, *chunk))
        new += [m for i, m in enumerate(chunk, 1) if i not in before]
    if members == [PUBLIC_MEMBER]:
        return new
    return [int(m) for m in new]


def _unclaim(key: str, members: list[Any]) -> None:
    try:
        _redis().srem(key, *members)
    except Exception:  # Redis away: the claims expire; those people catch up with since=
        logger.warning("could not give back %d claims of %s", len(members), key)


def _send_home_batch(
    online: list[int], message: dict, *, claim: str | None = None, claimed: bool = False
) -> int:
    """To these online recipients: by default one multicast (what every ``user.<id>`` group
    would get, as one Redis message); ``REALTIME_FANOUT = "groups"`` sends to each group through
    the channel layer instead (the benchmark compares both). With ``claim``, only to those not
    claimed under that key yet (``claimed``: the caller claimed them already), and a failed
    send gives its claims back."""
    if claim is not None and not claimed:
        online = _claim(claim, online)
    if not online:
        return 0
    try:
        if getattr(settings, "REALTIME_FANOUT", "multicast") == "groups":
            return send_many([groups.user_group(user_id) for user_id in online], message)
        return send_to_users(online, message)
    except BaseException:
        if claim is not None:
            _unclaim(claim, online)
        raise


# --- small audiences: delivered by the process that committed the post ------------------------


def inline_max() -> int:
    return int(getattr(settings, "REALTIME_INLINE_MAX", 5000))


def _small_candidates(author_id: int, visibility: str, cap: int) -> list[int] | None:
    """Who may get the post on their home stream (the author, and followers unless it is
    private), when that is cheap to know: at most ``cap`` followers (one query), or at most
    ``cap`` people online at all (then only those of them who follow). None otherwise."""
    if visibility not in (Post.Visibility.PUBLIC, Post.Visibility.FOLLOWERS):
        return [author_id]
    followers = list(
        Follow.objects.filter(followee_id=author_id)
        .order_by("follower_id")
        .values_list("follower_id", flat=True)[: cap + 1]
    )
    if len(followers) <= cap:
        return [author_id, *followers]
    if presence.online_count() > cap:
        return None
    online = presence.online_users()
    found = [author_id] if author_id in online else []
    for start in range(0, len(online), BATCH):
        found += _following_among(author_id, online[start : start + BATCH])
    return found


# Claim, among the candidates, those online now (``presence.online_among``'s test), and the
# public stream if asked: one round trip instead of a ZMSCORE and then a claim. The candidates
# come as one argument, packed before commit (``_pack``, ``_prepare``), and are looked up
# and claimed with one command each on the whole batch: a creator with 3,000 followers of whom
# 100 are online took 7 ms here as a ZSCORE and a SADD per candidate, most of the time from
# commit to the last socket.
# KEYS: the post's claims, the online set. ARGV: ttl, now, "1" to claim public, candidates.
_CLAIM_ONLINE = """
local public = 0
if ARGV[3] == '1' and redis.call('SADD', KEYS[1], 'public') == 1 then public = 1 end
local now = tonumber(ARGV[2])
-- The candidates: sorted, zero-padded to one width, each followed by a comma.
local packed = ARGV[4]
local w = (string.find(packed, ',', 1, true) or 1) - 1
local n = 0
if w > 0 then n = #packed / (w + 1) end
local new = {}
if n > 0 then
  local online = {}
  if redis.call('ZCARD', KEYS[2]) < n then
    -- Fewer people online than candidates: read them and find each among the candidates by
    -- binary search. (ZMSCORE on a small, compactly stored set scans it once per candidate.)
    for _, id in ipairs(redis.call('ZRANGE', KEYS[2], '(' .. ARGV[2], '+inf', 'BYSCORE')) do
      if #id <= w then
        local want = string.rep('0', w - #id) .. id
        local lo, hi = 1, n
        while lo <= hi do
          local mid = math.floor((lo + hi) / 2)
          local at = (mid - 1) * (w + 1)
          local c = string.sub(packed, at + 1, at + w)
          if c == want then
            online[#online + 1] = id
            break
          elseif c < want then
            lo = mid + 1
          else
            hi = mid - 1
          end
        end
      end
    end
  else
    local candidates = {}
    for i = 1, n do
      local at = (i - 1) * (w + 1)
      candidates[i] = (string.gsub(string.sub(packed, at + 1, at + w), '^0+', ''))
    end
    local scores = redis.call('ZMSCORE', KEYS[2], unpack(candidates))
    for i = 1, n do
      if scores[i] and tonumber(scores[i]) > now then online[#online + 1] = candidates[i] end
    end
  end
  if #online > 0 then
    local seen = redis.call('SMISMEMBER', KEYS[1], unpack(online))
    for i = 1, #online do
      if seen[i] == 0 then new[#new + 1] = online[i] end
    end
    if #new > 0 then redis.call('SADD', KEYS[1], unpack(new)) end
  end
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
if #new > 0 and ARGV[5] ~= '' then
  redis.call('PUBLISH', ARGV[5], ARGV[6] .. table.concat(new, ',') .. ARGV[7])
end
return {public, new}
"""
_claim_online_script: tuple[int, Any] | None = None


def _claim_online(
    key: str, candidates: str, *, public: bool, home: dict | None = None
) -> tuple[bool, list[int], int]:
    """Claim the public stream (if ``public``) and the online ones of ``candidates`` (ids
    packed by ``_pack``), and with ``home`` publish it to those just claimed as one
    multicast (``multicast.publish``'s message), all in the same script: one round trip from
    commit to the web processes. Also reports Redis's uptime (asked in the same round trip),
    for ``PresenceRebuilding`` after a restart.

    The script runs whole or not at all: when the call fails nobody was claimed (the request
    did not reach Redis, the queue sends to all) or everyone claimed was sent to (the reply was
    lost, the queue finds them claimed); claims are never given back here, which in the second
    case would send twice."""
    global _claim_online_script
    client = _redis()
    if _claim_online_script is None or _claim_online_script[0] != id(client):
        _claim_online_script = (id(client), client.register_script(_CLAIM_ONLINE))
    script = _claim_online_script[1]
    head, tail = multicast.frame_parts(home) if home is not None else (b"", b"")
    channel = multicast.channel() if home is not None else ""
    with client.pipeline(transaction=False) as pipe:
        script(
            keys=[key, presence.online_key()],
            args=[CLAIM_TTL_S, time.time(), int(public), candidates, channel, head, tail],
            client=pipe,
        )
        pipe.info("server")
        (public_new, new), info = pipe.execute()
    uptime = int(info.get("uptime_in_seconds", presence.REBUILD_S))
    return bool(public_new), [int(m) for m in new], uptime


def _pack(ids: list[int]) -> str:
    """Sorted ids as the claim script reads them: each zero-padded to the widest one's width
    and followed by a comma, so the script finds one by binary search on the string instead of
    splitting it (3,000 candidates: about 1 ms of the script's time)."""
    if not ids:
        return ""
    width = len(str(max(ids)))
    return "".join(f"{i:0{width}d}," for i in ids)


class _Prepared(NamedTuple):
    post: Post
    batches: list[str]  # the candidates, each once, sorted (``_pack``), up to BATCH a string
    public: dict
    home: dict


def _prepare(post: Post) -> _Prepared | None:
    """Read the audience and serialise the event; None when the audience is not small."""
    try:
        candidates = _small_candidates(post.author_id, post.visibility, inline_max())
        if candidates is None:
            return None
        candidates = sorted(set(candidates))
        batches = [
            _pack(candidates[start : start + BATCH]) for start in range(0, len(candidates), BATCH)
        ] or [""]
        return _Prepared(post, batches, *_messages(post))
    finally:
        connection.close()  # back to the pool (or closed): this thread holds none between posts


def _send_prepared(prepared: _Prepared, committed_at: float) -> int:
    """Claim and send; raises what fails (claims of a failed send are given back)."""
    started = time.monotonic()
    waited = (time.time() - committed_at) * 1000
    post = prepared.post
    key = _claim_key(post.id)
    sent = 0
    multicast_here = (
        PUBLISH_IN_CLAIM and getattr(settings, "REALTIME_FANOUT", "multicast") != "groups"
    )
    for i, batch in enumerate(prepared.batches):
        send_public, online, uptime = _claim_online(
            key,
            batch,
            public=i == 0 and _is_public(post),
            home=prepared.home if multicast_here else None,
        )
        if send_public:
            send_now(groups.PUBLIC, prepared.public)
            sent += 1
        if multicast_here:
            sent += len(online)  # published by the script, to those it claimed
        else:
            sent += _send_home_batch(online, prepared.home, claim=key, claimed=True)
    _log(post, sent, started, f"in process, {waited:.1f} ms after commit")
    if uptime < presence.REBUILD_S:  # pages still coming back after a Redis restart
        raise presence.PresenceRebuilding(
            f"Redis has been up {uptime} s", retry_in_s=presence.REBUILD_S - uptime
        )
    return sent


_executor: tuple[int, ThreadPoolExecutor] | None = None
_executor_lock = threading.Lock()
_pending: set[Future] = set()


def _thread() -> ThreadPoolExecutor:
    """One delivery thread per process (made again after a fork): posts go out in the order
    they committed, each after its own preparation (first in, first out), and fan-out never
    takes more than one core from the requests."""
    global _executor
    with _executor_lock:
        if _executor is None or _executor[0] != os.getpid():
            _pending.clear()
            _executor = (os.getpid(), ThreadPoolExecutor(1, thread_name_prefix="vivid-fanout"))
        return _executor[1]


def _submit(fn: Any, *args: Any) -> Future:
    future = _thread().submit(fn, *args)
    _pending.add(future)
    future.add_done_callback(_pending.discard)
    return future


def post_created_prepare(*, post: Post) -> Future | None:
    """Inside the publish's transaction, as soon as the post exists: start reading its audience
    and serialising the event on the delivery thread, while the request finishes its work and
    commits (nothing is sent before ``post_created_after_commit``; after a rollback the result
    is dropped). None when this process does not deliver posts itself now."""
    if inline_max() <= 0 or len(_pending) >= INLINE_BACKLOG_MAX:
        return None
    # A copy of its own (and of the asset): the thread annotates what it serialises, and the
    # request goes on using the original.
    snapshot = copy.copy(post)
    snapshot.asset = copy.copy(post.asset)
    try:
        return _submit(_prepare, snapshot)
    except Exception:  # the thread cannot take it (shutting down): the queue will
        logger.warning("in-process fan-out unavailable for post %s", post.id, exc_info=True)
        return None


def post_created_after_commit(*, prepared: Future | None, owed: OutboxMessage) -> None:
    """After the publish commits: deliver what ``post_created_prepare`` readied if the audience
    is small, else hand ``owed`` (the post's recorded ``feed`` task) to the queue. Returns at
    once, never raises."""
    if prepared is not None:
        try:
            _submit(_deliver_here, prepared, owed, time.time())
            return
        except Exception:
            logger.warning("in-process fan-out unavailable", exc_info=True)
    outbox.send(owed)


def _deliver_here(prepared: Future, owed: OutboxMessage, committed_at: float) -> None:
    post_id = owed.args[0] if owed.args else None
    try:
        try:
            ready = prepared.result()  # done: it was queued on this same thread before
            if ready is None:
                delivered = False  # a large audience: the queue's worker
            else:
                _send_prepared(ready, committed_at)
                delivered = True
        except presence.PresenceRebuilding:
            delivered = False  # sent to those already back; the task sends to the rest later
        except (*TRANSIENT_ERRORS, redis.RedisError, OSError) as e:
            outage.lost("fan-out", e)  # one warning per outage; the queue delivers
            delivered = False
        except Exception:
            logger.exception("in-process fan-out of post %s failed; the queue delivers it", post_id)
            delivered = False
        else:
            outage.back("fan-out")
        if not delivered:
            outbox.send(owed)
            return
        try:
            outbox.mark_sent(owed.id)
        except Exception as e:  # the relay sends the task; its claims make it send nothing
            logger.warning("post %s delivered but its outbox row not marked: %s", post_id, e)
    finally:
        connection.close()


def drain(timeout: float | None = 10.0) -> bool:
    """Wait until this process's in-process deliveries are done (a graceful stop, a test);
    True if none is left."""
    pending = list(_pending)
    if not pending:
        return True
    _done, not_done = futures_wait(pending, timeout=timeout)
    return not not_done


def post_deleted(*, post_id: int, author_id: int, visibility: str) -> int:
    """Send ``post.deleted`` wherever the post could have been shown (also when it is hidden)."""
    payload = {"post_id": str(post_id)}
    sent = 0
    if visibility == Post.Visibility.PUBLIC:
        send_now(groups.PUBLIC, prepared_message("post.deleted", "public", payload))
        sent += 1
    send_now(
        groups.post_group(post_id), prepared_message("post.deleted", f"post:{post_id}", payload)
    )
    sent += 1
    sent += _send_home(author_id, visibility, prepared_message("post.deleted", "home", payload))
    return sent
