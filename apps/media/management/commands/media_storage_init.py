"""``manage.py media_storage_init``: make sure media can be stored (a release step).

With an S3-compatible store it creates the bucket when it does not exist yet (private, no public
access) and checks that an object can be written, read and deleted; on the local disk it checks
the same in ``MEDIA_ROOT``. Safe to run at every release.
"""

from __future__ import annotations

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage, storages
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Create the media bucket if needed and check that media can be stored."

    def handle(self, *args, **options):
        storage = storages["default"]
        try:
            from storages.backends.s3 import S3Storage
        except ImportError:  # pragma: no cover - a dependency
            S3Storage = None
        if S3Storage is not None and isinstance(storage, S3Storage):
            client = storage.connection.meta.client
            try:
                client.head_bucket(Bucket=storage.bucket_name)
            except client.exceptions.ClientError:
                args = {"Bucket": storage.bucket_name}
                region = client.meta.region_name
                if region and region != "us-east-1":
                    args["CreateBucketConfiguration"] = {"LocationConstraint": region}
                client.create_bucket(**args)
                self.stdout.write(f"Created bucket {storage.bucket_name}.")
        probe = "checks/storage-probe.txt"
        try:
            name = default_storage.save(probe, ContentFile(b"ok"))
            with default_storage.open(name, "rb") as f:
                assert f.read() == b"ok"
            default_storage.delete(name)
        except Exception as e:
            raise CommandError(f"Media storage does not work: {e}") from e
        self.stdout.write(self.style.SUCCESS(f"Media storage works ({type(storage).__name__})."))
