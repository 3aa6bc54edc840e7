"""Site pages of provenance: one record, readable as on the API, with its family."""

from django.http import Http404
from django.shortcuts import render

from apps.core import ledger
from apps.core.exceptions import ApplicationError
from apps.provenance import selectors
from apps.provenance.serializers import record_data
from apps.provenance.templatetags.provenance_tags import family_rows


def record_page(request, record_id: int):
    """``/provenance/<id>``: what ``GET /api/v1/provenance/<id>`` says, for people: the same
    visibility (404), the same hidden prompt, the signature's check, and the remix family."""
    try:
        record = selectors.record_get_visible(record_id=record_id, viewer=request.user)
    except ApplicationError as e:
        raise Http404 from e
    shown = selectors.prompt_visible(record=record, viewer=request.user)
    data = record_data(record, viewer=request.user, prompt_hidden=not shown)
    prov = {
        "record": record,
        "prompt_shown": shown,
        "verified": data["verified"],
        **family_rows(record=record, viewer=request.user),
    }
    return render(
        request,
        "provenance/record.html",
        {"data": data, "prov": prov, "parents": data["parents"], "genesis": ledger.GENESIS},
    )
