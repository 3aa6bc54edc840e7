from django.apps import AppConfig


class ConsentConfig(AppConfig):
    name = "apps.consent"
    label = "consent"

    def ready(self) -> None:
        from apps.consent.models import ConsentEvent
        from apps.core import ledger

        ledger.register(ConsentEvent)  # provenance_verify walks the consent log too
