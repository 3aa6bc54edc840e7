"""``manage.py seed --scale small|medium|large``: realistic data for demos and benchmarks.

- ``small`` (the demo): 24 creators with real procedural images (a few seconds to render), a
  few hundred posts with captions, #hashtags and @mentions, follows, reactions, comments and
  remixes. Everyone's password is ``SEED_PASSWORD``; log in as ``demo``.
- ``10k``: large's users and follows with 10,000 posts (the benchmark's small end).
- ``medium``: 1,000 users, 100,000 posts, 100,000 follows, 500,000 reactions.
- ``large``: 10,000 users, 1,000,000 posts, 5,000,000 follows, 10,000,000 reactions, loaded with
  PostgreSQL's COPY (psycopg 3 ``cursor.copy``); PostgreSQL only.

Medium and large share a pool of images among posts (the feed's cost does not depend on pixels).
Rows are made with NumPy: popular creators get more followers and their posts more reactions,
timestamps spread over the last ``--days`` days, and every denormalised count (reactions,
remixes, trending score) matches the rows it counts. Ids are the product's time-sortable ids
made for each row's timestamp. The user ``bench`` follows exactly 500 accounts (for
``tests/bench/feed.py``).

Seeding refuses to run on a database that already has users unless ``--force``.
"""

from __future__ import annotations

import io
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from unittest import mock

import numpy as np
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, models, transaction

from apps.accounts.models import User
from apps.core.ids import EPOCH_MS
from apps.posts.models import REACTION_KINDS, Comment, Post, PostTag, Reaction
from apps.posts.services import REMIX_WEIGHT, TREND_DECAY_S
from apps.social.models import Follow

SEED_PASSWORD = "vivid-demo-2026"
TAGS = [
    "landscape",
    "sunset",
    "mountains",
    "ocean",
    "forest",
    "desert",
    "aurora",
    "city",
    "night",
    "fog",
    "storm",
    "winter",
    "watercolor",
    "oilpainting",
    "neon",
    "retro",
    "minimal",
    "dreamy",
    "golden",
    "moody",
]
PROMPTS = [
    "misty mountains at sunrise, watercolor",
    "a quiet harbour at dusk with boats, oil painting",
    "desert dunes under a violet night sky with stars",
    "a pine forest in heavy fog, muted colours",
    "aurora over a frozen lake, cinematic",
    "tropical beach at golden hour, vivid colours",
    "storm clouds over rolling green hills",
    "a snowy valley at blue hour, minimal",
    "neon city skyline in the rain, retro",
    "autumn forest by a river, dreamy",
    "red canyon at noon, dramatic light",
    "moonlit ocean with gentle waves",
    "lavender fields at sunset, impressionist",
    "volcanic island under a stormy sky",
    "alpine lake reflecting snowy peaks",
    "foggy meadow at dawn, pastel",
]
WORDS = [
    "light",
    "morning",
    "quiet",
    "evening",
    "colour",
    "layers",
    "drift",
    "calm",
    "wild",
    "glow",
    "distant",
    "soft",
    "waves",
    "shadows",
    "warm",
    "cold",
    "air",
    "silence",
    "trying",
    "new",
    "prompt",
    "again",
    "version",
    "remix",
    "favourite",
]
FIRST = [
    "ana",
    "bruno",
    "chen",
    "dara",
    "eli",
    "farah",
    "gus",
    "hana",
    "ivo",
    "jun",
    "kira",
    "leo",
    "maya",
    "nico",
    "omar",
    "pia",
    "quin",
    "rosa",
    "sami",
    "tara",
    "uma",
    "vic",
    "wen",
    "xia",
    "yara",
    "zoe",
]


@dataclass(frozen=True)
class Scale:
    users: int
    posts: int
    follows: int
    reactions: int
    images: int
    comments: int


SCALES = {
    "small": Scale(users=24, posts=240, follows=200, reactions=1_500, images=16, comments=150),
    # The same shape as large with a hundredth of its posts: the benchmark's "10k posts" point.
    "10k": Scale(
        users=10_000, posts=10_000, follows=5_000_000, reactions=100_000, images=8, comments=1_000
    ),
    "medium": Scale(
        users=1_000, posts=100_000, follows=100_000, reactions=500_000, images=24, comments=20_000
    ),
    "large": Scale(
        users=10_000,
        posts=1_000_000,
        follows=5_000_000,
        reactions=10_000_000,
        images=32,
        comments=100_000,
    ),
}


def ids_for(ms: np.ndarray, salt: int) -> np.ndarray:
    """Time-sortable ids for Unix-millisecond times (sorted), unique within one call."""
    seq = (np.arange(len(ms), dtype=np.int64) + salt) & ((1 << 22) - 1)
    return ((ms.astype(np.int64) - EPOCH_MS) << 22) | seq


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


class Command(BaseCommand):
    help = "Fill the database with realistic users, posts, follows, reactions and comments."

    def add_arguments(self, parser):
        parser.add_argument("--scale", choices=sorted(SCALES), default="small")
        parser.add_argument("--days", type=int, default=60, help="time span of the posts")
        parser.add_argument("--seed", type=int, default=2026, help="random seed")
        parser.add_argument("--force", action="store_true", help="seed a non-empty database")
        parser.add_argument("--images", type=int, help="how many distinct pictures to make")

    def handle(self, *args, scale: str, days: int, seed: int, force: bool, **options):
        import dataclasses

        if User.objects.exists() and not force:
            raise CommandError("The database already has users; pass --force to add more.")
        postgres = connection.vendor == "postgresql"
        if scale == "large" and not postgres:
            raise CommandError("--scale large needs PostgreSQL (it loads with COPY).")
        self.rng = np.random.default_rng(seed)
        self.postgres = postgres
        self.spec = SCALES[scale]
        self.paint = scale == "small"
        # Millions of rows: drop secondary indexes while loading and build them after.
        self.big = scale in ("large", "10k")
        if options.get("images"):
            self.spec = dataclasses.replace(self.spec, images=max(1, options["images"]))
        self.days = days
        started = time.monotonic()
        self._step_started = started
        self.now_ms = int(time.time() * 1000)
        with transaction.atomic():
            self._loading()
            users = self._users()
        assets = self._assets(users)  # one transaction each: files are written as they go
        with transaction.atomic():
            self._loading()
            self._follows(users)
            post_ids, authors = self._posts(users, assets)
            self._comments(users, post_ids, authors)
        if postgres:
            with connection.cursor() as cursor:
                for table in (
                    "accounts_user",
                    "social_follow",
                    "posts_post",
                    "posts_posttag",
                    "posts_reaction",
                ):
                    cursor.execute(f"ANALYZE {table}")
        # Posts were loaded in bulk, past the publish service: index them for search.
        from apps.search.services import index_rebuild, tag_counts_refresh

        indexed = index_rebuild()
        tag_counts_refresh()
        self._say(f"indexed {indexed} posts for search")
        self._say(
            f"seeded {scale}: {self.spec.users} users, {len(post_ids)} posts in "
            f"{time.monotonic() - started:.1f} s (log in as demo / {SEED_PASSWORD})"
        )

    def _loading(self) -> None:
        """Skip per-row foreign-key triggers while loading (every id is made here)."""
        if self.postgres:
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL session_replication_role = replica")

    # --- output ----------------------------------------------------------------------------------
    def _say(self, text: str) -> None:
        now = time.monotonic()
        self.stdout.write(f"[{now - self._step_started:6.1f} s] {text}")
        self._step_started = now

    # --- writing rows ------------------------------------------------------------------------
    def _load(self, model: type[models.Model], columns: list[str], rows) -> None:
        """Write rows (tuples in ``columns`` order): COPY on PostgreSQL, bulk inserts elsewhere.

        Columns not given take the field's default, so fields added later keep seeding.
        """
        fields = [
            f for f in model._meta.concrete_fields if not f.primary_key or f.attname in columns
        ]
        extra = [f for f in fields if f.attname not in columns]
        defaults = []
        for f in extra:
            value = f.get_default()
            if value is None and not f.null:
                if not isinstance(f, models.DateTimeField):
                    raise CommandError(f"{model.__name__}.{f.name} needs a value")
                value = datetime.now(tz=UTC)
            defaults.append(value)
        names = columns + [f.attname for f in extra]
        if self.postgres:
            table = model._meta.db_table
            cols = ", ".join(model._meta.get_field(n).column if n != "id" else "id" for n in names)
            with connection.cursor() as cursor, _indexes_rebuilt(cursor, table, self.big):
                raw = cursor.cursor  # psycopg 3
                with raw.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                    buffer = io.StringIO()
                    for n, row in enumerate(rows):
                        buffer.write(_copy_line((*row, *defaults)))
                        if n % 50_000 == 49_999:
                            copy.write(buffer.getvalue())
                            buffer = io.StringIO()
                    copy.write(buffer.getvalue())
            return
        # Seeded rows carry their own creation times: keep ``auto_now_add`` from replacing them.
        stamped = [f for f in model._meta.concrete_fields if getattr(f, "auto_now_add", False)]
        for f in stamped:
            f.auto_now_add = False
        try:
            batch = []
            for row in rows:
                batch.append(model(**dict(zip(names, (*row, *defaults), strict=True))))
                if len(batch) >= 2_000:
                    model.objects.bulk_create(batch)
                    batch = []
            model.objects.bulk_create(batch)
        finally:
            for f in stamped:
                f.auto_now_add = True

    # --- users -------------------------------------------------------------------------------
    def _users(self) -> np.ndarray:
        n = self.spec.users
        start = self.now_ms - (self.days + 30) * 86_400_000
        ms = np.sort(self.rng.integers(start, start + 20 * 86_400_000, n))
        ids = ids_for(ms, 0)
        password = make_password(SEED_PASSWORD)
        names = ["demo", "bench"] + [
            f"{FIRST[i % len(FIRST)]}{'' if i < len(FIRST) else i // len(FIRST)}"
            for i in range(n - 2)
        ]
        private = self.rng.random(n) < 0.04
        private[:2] = False
        rows = (
            (
                int(ids[i]),
                names[i],
                f"{names[i]}@example.com",
                password,
                names[i].rstrip("0123456789").capitalize(),
                bool(private[i]),
                _iso(int(ms[i])),
            )
            for i in range(n)
        )
        cols = ["id", "username", "email", "password", "display_name", "is_private", "date_joined"]
        self._load(User, cols, rows)
        self._say(f"{n} users")
        return ids

    # --- images ------------------------------------------------------------------------------
    def _assets(self, users: np.ndarray) -> list[int]:
        """A pool of real images: procedural paintings (small) or tiny gradients (others)."""
        from apps.core import outbox
        from apps.generation.backends.procedural.render import encode_png, render_scene
        from apps.generation.models import GenerationJob
        from apps.media.services import asset_create, asset_make_variants

        out = []
        owners = User.objects.in_bulk([int(u) for u in users[: self.spec.images]])
        for i in range(self.spec.images):
            owner = owners[int(users[i % len(users)])]
            prompt = PROMPTS[i % len(PROMPTS)]
            w, h = ((512, 512), (512, 288), (400, 512))[i % 3]
            if self.paint:
                data = encode_png(render_scene(prompt, "", 1000 + i, w, h, "draft"))
            else:
                data = _gradient_png(i, w // 8, h // 8)
                w, h = w // 8, h // 8
            job = GenerationJob.objects.create(
                owner=owner,
                kind="image",
                status="succeeded",
                progress=1.0,
                prompt=prompt,
                backend="procedural",
                seed=1000 + i,
                params={
                    "aspect_ratio": ("1:1", "16:9", "4:5")[i % 3],
                    "quality": "draft",
                    "count": 1,
                    "width": w,
                    "height": h,
                    "duration_s": None,
                },
            )
            # Variants are made here and now rather than on the media queue, so seeding needs
            # no worker or broker (it also runs before ``make run`` starts them).
            no_queue = mock.patch.object(outbox, "send_on_commit", lambda *args: None)
            with no_queue, transaction.atomic():
                asset = asset_create(
                    owner=owner, data=data, mime="image/png", width=w, height=h, job=job
                )
            asset_make_variants(asset=asset)
            out.append(asset.id)
        self._say(f"{len(out)} images")
        return out

    # --- follows -----------------------------------------------------------------------------
    def _popularity(self, n: int) -> np.ndarray:
        """Zipf-like weights: a few creators are very popular, most are not."""
        weights = 1.0 / np.arange(1, n + 1) ** 0.8
        self.rng.shuffle(weights)
        return weights / weights.sum()

    def _follows(self, users: np.ndarray) -> None:
        n = len(users)
        self.popular = self._popularity(n)
        want = self.spec.follows
        followers = self.rng.integers(0, n, int(want * 1.6))
        followees = self.rng.choice(n, size=len(followers), p=self.popular)
        pairs = np.unique(followers.astype(np.int64) * n + followees)
        pairs = pairs[(pairs // n) != (pairs % n)]
        pairs = pairs[(pairs // n) > 1]  # "demo" and "bench" get theirs below
        self.rng.shuffle(pairs)
        # "demo" follows 15 people (a living home feed); "bench" follows exactly 500.
        demo = self.rng.choice(np.arange(2, n), size=min(15, n - 2), replace=False)
        bench = self.rng.choice(np.arange(2, n), size=min(500, n - 2), replace=False)
        pairs = pairs[: max(0, want - len(demo) - len(bench))]
        pairs = np.concatenate([pairs, 0 * n + demo, 1 * n + bench])
        ms = np.sort(
            self.rng.integers(self.now_ms - self.days * 86_400_000, self.now_ms, len(pairs))
        )
        ids = ids_for(ms, 1 << 21)
        f, t = pairs // n, pairs % n
        rows = zip(
            ids.tolist(), users[f].tolist(), users[t].tolist(), map(_iso, ms.tolist()), strict=True
        )
        self._load(Follow, ["id", "follower_id", "followee_id", "created_at"], rows)
        self._say(f"{len(pairs)} follows")

    # --- posts and reactions -----------------------------------------------------------------
    def _posts(self, users: np.ndarray, assets: list[int]) -> tuple[np.ndarray, np.ndarray]:
        spec, rng = self.spec, self.rng
        n = spec.posts
        ms = np.sort(rng.integers(self.now_ms - self.days * 86_400_000, self.now_ms, n))
        ids = ids_for(ms, 0)
        # Prolific creators post more; popular ones are not always the most prolific.
        activity = self._popularity(len(users)) * 0.5 + self.popular * 0.5
        authors = rng.choice(len(users), size=n, p=activity / activity.sum())
        visibility = rng.choice(3, size=n, p=[0.85, 0.12, 0.03])
        sensitive = rng.random(n) < 0.03
        allow_remix = rng.random(n) > 0.1

        # Reactions: more on posts by popular authors; unique (user, post, kind).
        post_weight = self.popular[authors] * rng.pareto(2.0, n).clip(0, 50) + 1e-9
        post_weight = np.where(visibility == 2, 0, post_weight)  # private: only the author
        want = spec.reactions
        r_posts = rng.choice(n, size=int(want * 1.1), p=post_weight / post_weight.sum())
        r_users = rng.integers(0, len(users), len(r_posts))
        r_kinds = rng.choice(5, size=len(r_posts), p=[0.55, 0.18, 0.09, 0.08, 0.10])
        nu = len(users)
        key = np.unique((r_posts.astype(np.int64) * nu + r_users) * 5 + r_kinds)
        rng.shuffle(key)
        key = np.sort(key[:want])
        r_kinds = (key % 5).astype(np.int64)
        r_users = ((key // 5) % nu).astype(np.int64)
        r_posts = (key // 5 // nu).astype(np.int64)
        counts = np.zeros((5, n), dtype=np.int64)
        for k in range(5):
            counts[k] = np.bincount(r_posts[r_kinds == k], minlength=n)

        # Remixes: 3 % of posts remix an earlier public, remixable post.
        remix_of = np.full(n, -1, dtype=np.int64)
        candidates = rng.choice(np.arange(1, n), size=max(1, n // 33), replace=False)
        for child in candidates:
            parent = int(rng.integers(max(0, child - 5_000), child))
            if (
                visibility[parent] == 0
                and allow_remix[parent]
                and authors[parent] != authors[child]
            ):
                remix_of[child] = parent
        remix_count = np.bincount(remix_of[remix_of >= 0], minlength=n)

        engagement = counts.sum(axis=0) + REMIX_WEIGHT * remix_count
        trend = np.log10(1 + engagement) + (ms / 1000) / TREND_DECAY_S
        vis_names = ("public", "followers", "private")
        tags = rng.integers(0, len(TAGS), (n, 2))
        usernames = dict(
            User.objects.filter(id__in=[int(u) for u in users]).values_list("id", "username")
        )
        n_assets = len(assets)

        def caption(i: int) -> str:
            words = " ".join(WORDS[j] for j in rng.integers(0, len(WORDS), 4))
            text = f"{words.capitalize()} #{TAGS[tags[i, 0]]}"
            if i % 3 == 0:
                text += f" #{TAGS[tags[i, 1]]}"
            if i % 17 == 0:
                text += f" with @{usernames[int(users[(authors[i] + 1) % len(users)])]}"
            return text

        captions = [caption(i) for i in range(n)]
        cols = [
            "id",
            "created_at",
            "author_id",
            "asset_id",
            "caption",
            "visibility",
            "remix_of_id",
            "allow_remix",
            "training_use",
            "sensitive",
            "hide_prompt",
            *(f"{k}_count" for k in REACTION_KINDS),
            "comments_count",
            "remix_count",
            "trend_score",
        ]
        rows = (
            (
                int(ids[i]),
                _iso(int(ms[i])),
                int(users[authors[i]]),
                assets[i % n_assets],
                captions[i],
                vis_names[visibility[i]],
                int(ids[remix_of[i]]) if remix_of[i] >= 0 else None,
                bool(allow_remix[i]),
                False,
                bool(sensitive[i]),
                False,
                *(int(counts[k, i]) for k in range(5)),
                0,
                int(remix_count[i]),
                float(trend[i]),
            )
            for i in range(n)
        )
        self._load(Post, cols, rows)
        self._say(f"{n} posts")

        tag_rows = []
        from apps.posts.text import hashtags

        for i in range(n):
            for tag in hashtags(captions[i]):
                tag_rows.append((int(ids[i]), tag))
        self._load(PostTag, ["post_id", "tag"], iter(tag_rows))
        self._say(f"{len(tag_rows)} hashtags")

        # A reaction comes after its post; rows go in time order, ids made from their times.
        r_ms = ms[r_posts] + rng.integers(1_000, 3 * 86_400_000, len(r_posts))
        r_ms = np.minimum(r_ms, self.now_ms)
        order = np.argsort(r_ms, kind="stable")
        r_ms, r_posts, r_users, r_kinds = (
            r_ms[order],
            r_posts[order],
            r_users[order],
            r_kinds[order],
        )
        r_ids = ids_for(r_ms, 0)
        kinds = REACTION_KINDS
        rows = zip(
            r_ids.tolist(),
            map(_iso, r_ms.tolist()),
            users[r_users].tolist(),
            ids[r_posts].tolist(),
            [kinds[k] for k in r_kinds.tolist()],
            strict=True,
        )
        self._load(Reaction, ["id", "created_at", "user_id", "post_id", "kind"], rows)
        self._say(f"{len(r_posts)} reactions")
        return ids, authors

    # --- comments ----------------------------------------------------------------------------
    def _comments(self, users: np.ndarray, post_ids: np.ndarray, authors: np.ndarray) -> None:
        rng, n = self.rng, self.spec.comments
        picked = rng.integers(0, len(post_ids), n)
        who = rng.integers(0, len(users), n)
        post_ms = (post_ids[picked] >> 22) + EPOCH_MS
        c_ms = np.minimum(post_ms + rng.integers(1_000, 86_400_000, n), self.now_ms)
        order = np.argsort(c_ms, kind="stable")
        c_ms, picked, who = c_ms[order], picked[order], who[order]
        c_ids = ids_for(c_ms, 0)
        bodies = [
            "Love the light here",
            "How did you get these colours?",
            "Wow",
            "This is my new wallpaper",
            "The fog!",
            "Stunning #landscape",
            "Trying a remix of this",
            "So calm",
        ]
        rows = (
            (
                int(c_ids[i]),
                _iso(int(c_ms[i])),
                int(post_ids[picked[i]]),
                int(users[who[i]]),
                bodies[i % len(bodies)],
            )
            for i in range(n)
        )
        self._load(Comment, ["id", "created_at", "post_id", "author_id", "body"], rows)
        per_post = np.bincount(picked, minlength=len(post_ids))
        touched = np.nonzero(per_post)[0]
        with connection.cursor() as cursor:
            if self.postgres:
                cursor.execute(
                    "UPDATE posts_post p SET comments_count = c.n FROM "
                    "(SELECT post_id, count(*) AS n FROM posts_comment GROUP BY post_id) c "
                    "WHERE p.id = c.post_id"
                )
            else:
                for i in touched:
                    Post.objects.filter(id=int(post_ids[i])).update(comments_count=int(per_post[i]))
        self._say(f"{n} comments")


@contextmanager
def _indexes_rebuilt(cursor, table: str, enabled: bool):
    """Load into ``table`` without its secondary indexes and unique constraints, then build them
    in one sorted pass each (far faster than millions of random B-tree inserts)."""
    if not enabled:
        yield
        return
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype = 'u'",
        [table],
    )
    constraints = cursor.fetchall()
    cursor.execute(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = %s "
        "AND i.indexname NOT IN (SELECT conname FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype IN ('p', 'u'))",
        [table, table],
    )
    indexes = cursor.fetchall()
    for name, _ in constraints:
        cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        cursor.execute(f'DROP INDEX "{name}"')
    yield
    cursor.execute("SET LOCAL maintenance_work_mem = '1GB'")
    for name, definition in constraints:
        cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    for _, definition in indexes:
        cursor.execute(definition)


def _copy_line(values) -> str:
    out = []
    for v in values:
        if v is None:
            out.append("\\N")
        elif isinstance(v, bool):
            out.append("t" if v else "f")
        elif isinstance(v, dict | list):
            import json

            out.append(_escape(json.dumps(v)))
        elif isinstance(v, datetime):
            out.append(v.isoformat())
        else:
            out.append(_escape(str(v)))
    return "\t".join(out) + "\n"


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _gradient_png(i: int, w: int, h: int) -> bytes:
    from PIL import Image

    a = np.linspace(0, 1, w)[None, :, None]
    b = np.linspace(0, 1, h)[:, None, None]
    base = np.array([(i * 53) % 256, (i * 97) % 256, (i * 151) % 256])[None, None, :]
    rgb = (base * (0.4 + 0.6 * a) * (0.5 + 0.5 * b)).clip(0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, "PNG")
    return out.getvalue()
