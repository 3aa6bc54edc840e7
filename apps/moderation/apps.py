from django.apps import AppConfig


class ModerationConfig(AppConfig):
    name = "apps.moderation"
    label = "moderation"

    def ready(self) -> None:
        from apps.core import ledger
        from apps.moderation.models import AuditEntry

        ledger.register(AuditEntry)
