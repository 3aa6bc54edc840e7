from django.apps import AppConfig


class ProvenanceConfig(AppConfig):
    name = "apps.provenance"
    label = "provenance"

    def ready(self) -> None:
        from apps.core import ledger
        from apps.provenance.models import ProvenanceRecord

        ledger.register(ProvenanceRecord)  # walked by manage.py provenance_verify
