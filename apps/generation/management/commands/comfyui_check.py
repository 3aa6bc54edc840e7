"""Check the ComfyUI servers and workflows: ``manage.py comfyui_check`` (exit 1 on a problem)."""

import json

from django.core.management.base import BaseCommand, CommandError

from apps.generation.backends.comfyui.checks import comfyui_check, comfyui_pools


class Command(BaseCommand):
    help = (
        "Check every ComfyUI server (does it answer?) and workflow (does it load, and fit each "
        "server's nodes and model files?). Exits 1 when anything is wrong."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(self, *args, json_output=False, **options):
        if not comfyui_pools():
            raise CommandError("No ComfyUI backend is configured (set COMFYUI_URLS).")
        report = comfyui_check()
        if options.get("json"):
            self.stdout.write(
                json.dumps(
                    {"servers": report.servers, "workflows": report.workflows, "ok": report.ok},
                    indent=2,
                )
            )
        else:
            for server, state in report.servers.items():
                self.stdout.write(f"server {server}: {state}")
            for alias, problems in report.workflows.items():
                self.stdout.write(f"workflow {alias}: {'ok' if not problems else 'does not fit'}")
                for problem in problems:
                    self.stdout.write(f"  - {problem}")
        if not report.ok:
            for problem in report.problems:
                self.stderr.write(problem)
            raise CommandError(f"{len(report.problems)} problem(s) found.")
        self.stdout.write(self.style.SUCCESS("Every ComfyUI server and workflow is fine."))
