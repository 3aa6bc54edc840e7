"""Preloaded by the fork server that runs /verify's file checks (``apps.provenance.verify``).

Each check runs in a fresh process forked from that server, so the server pays once for Django
and the decoders, and a check starts in milliseconds. Nothing here may fail the server: an
import error only makes each check import what it needs itself.
"""

try:
    import django

    django.setup()

    import apps.media.uploads
    import apps.provenance.c2pa
    import apps.provenance.verify  # noqa: F401
except Exception:
    pass
