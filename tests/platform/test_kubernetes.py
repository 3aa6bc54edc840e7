"""The Kubernetes manifests (platform/kubernetes/) are valid and run Vivid as it is configured.

Every document of every manifest is checked against the schemas of a pinned Kubernetes version
with ``kubernetes-validate`` in strict mode (an unknown or misspelt field fails, as
``kubectl apply --validate=strict`` would refuse it), and KEDA's ScaledObjects, a custom
resource those schemas do not know, against ``keda_scaledobject.schema.json`` beside this file.
Then the properties that decide whether the cluster works are checked against Vivid itself:
every Celery queue the settings route tasks to has a worker Deployment and a ScaledObject
reading that queue, beat runs exactly once, every Vivid container reads the ConfigMap and the
Secret and signs with the same certificate, the probes ask for paths and options that exist,
and no container runs as root.
"""

from __future__ import annotations

import copy
import importlib
import json
import re
import shlex
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import kubernetes_validate
import pytest
import yaml
from django.conf import settings
from django.core.management import get_commands, load_command_class
from django.urls import resolve

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "platform" / "kubernetes"
# The oldest Kubernetes the manifests are meant for (autoscaling/v2, policy/v1 with
# unhealthyPodEvictionPolicy, the preStop sleep action).
KUBERNETES_VERSION = "1.34"
KEDA_SCHEMA = json.loads((Path(__file__).parent / "keda_scaledobject.schema.json").read_text())
SCALING_ALTERNATIVES = ("keda/redis.yaml", "keda/rabbitmq.yaml")
POD_KINDS = ("Deployment", "StatefulSet", "Job")


def _load() -> dict[str, list[dict]]:
    files = sorted(p for p in MANIFESTS.rglob("*") if p.suffix in (".yaml", ".yml", ".json"))
    assert files, f"no manifests in {MANIFESTS}"
    return {
        str(path.relative_to(MANIFESTS)): [d for d in yaml.safe_load_all(path.read_text()) if d]
        for path in files
    }


DOCUMENTS = _load()
# What `kubectl apply -f platform/kubernetes/` applies (not the keda/ folder's alternatives).
APPLIED = [doc for name, docs in DOCUMENTS.items() if "/" not in name for doc in docs]


def _validate(doc: dict) -> None:
    if doc.get("apiVersion", "").startswith("keda.sh/"):
        jsonschema.Draft202012Validator(KEDA_SCHEMA).validate(doc)
    else:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def _of_kind(kind: str, docs: list[dict] = APPLIED) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def _pod_specs(docs: list[dict] = APPLIED) -> dict[str, dict]:
    return {
        f"{d['kind']}/{d['metadata']['name']}": d["spec"]["template"]["spec"]
        for d in docs
        if d["kind"] in POD_KINDS
    }


def _containers(pod: dict) -> list[dict]:
    return pod.get("initContainers", []) + pod["containers"]


def _is_vivid(container: dict) -> bool:
    return container["image"].split(":")[0] == "vivid"


def _shell(container: dict) -> list[str]:
    """The words of a container's command (``sh -c "..."`` opened up)."""
    command = container.get("command", [])
    if command[:2] == ["sh", "-c"]:
        return shlex.split(command[2])
    return command


def _celery_queues(container: dict) -> set[str] | None:
    words = _shell(container)
    if "celery" not in words or "worker" not in words:
        return None
    return set(words[words.index("-Q") + 1].split(","))


CONFIG = _of_kind("ConfigMap")["vivid"]["data"]
DEPLOYMENTS = _of_kind("Deployment")
WORKERS = {
    name: queues
    for name, d in DEPLOYMENTS.items()
    for c in d["spec"]["template"]["spec"]["containers"]
    if (queues := _celery_queues(c)) is not None
}


def vivid_queues() -> set[str]:
    """Every queue Vivid sends tasks to: where Celery's router sends each registered task, the
    routes and default queue of the settings, beat's and the heartbeats'."""
    from apps.config.celery import HEARTBEAT_QUEUES, app
    from apps.core.management.commands.serve import QUEUES

    app.loader.import_default_modules()
    queues = {
        app.amqp.router.route({}, name)["queue"].name
        for name in app.tasks
        if not name.startswith("celery.")
    }
    queues.update(route["queue"] for route in settings.CELERY_TASK_ROUTES.values())
    queues.add(settings.CELERY_TASK_DEFAULT_QUEUE)
    queues.update(
        entry["options"]["queue"]
        for entry in settings.CELERY_BEAT_SCHEDULE.values()
        if "queue" in entry.get("options", {})
    )
    return queues | set(HEARTBEAT_QUEUES) | set(QUEUES)


# --- schemas --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "doc",
    [doc for docs in DOCUMENTS.values() for doc in docs],
    ids=[
        f"{name}:{d['kind']}/{d['metadata']['name']}" for name, ds in DOCUMENTS.items() for d in ds
    ],
)
def test_every_document_is_valid_for_its_schema(doc):
    _validate(doc)


@pytest.mark.parametrize(
    "kind, name, change",
    [
        (
            "Deployment",
            "vivid-web",
            lambda d: _containers(d["spec"]["template"]["spec"])[-1].update(readinesProbe={}),
        ),
        ("Deployment", "vivid-web", lambda d: d["spec"].update(replicas="2")),
        ("Deployment", "vivid-beat", lambda d: d["spec"]["template"]["spec"].pop("containers")),
        ("HorizontalPodAutoscaler", "vivid-web", lambda d: d["spec"].update(maxReplicas="20")),
        ("PodDisruptionBudget", "vivid-web", lambda d: d["spec"].update(maxUnavailable=[1])),
        (
            "ScaledObject",
            "vivid-worker-media",
            lambda d: d["spec"]["triggers"][0]["metadata"].update(listname="media"),
        ),
        (
            "ScaledObject",
            "vivid-worker-media",
            lambda d: d["spec"]["triggers"][0]["metadata"].update(listLength=5),
        ),
        ("ScaledObject", "vivid-worker-feed", lambda d: d["spec"].update(minReplicas=1)),
        ("ScaledObject", "vivid-worker-feed", lambda d: d["spec"].pop("triggers")),
    ],
)
def test_a_broken_document_is_refused(kind, name, change):
    """The validation above can fail: misspelt fields, wrong types, missing parts."""
    doc = copy.deepcopy(_of_kind(kind, APPLIED + DOCUMENTS["keda/redis.yaml"])[name])
    _validate(doc)
    change(doc)
    with pytest.raises(jsonschema.ValidationError):
        _validate(doc)


# --- workers and their scaling --------------------------------------------------------------


def test_every_queue_has_exactly_one_worker_deployment():
    consumed = [q for queues in WORKERS.values() for q in queues]
    assert sorted(consumed) == sorted(set(consumed)), "a queue consumed by two Deployments"
    assert set(consumed) == vivid_queues()
    assert all(len(queues) == 1 for queues in WORKERS.values()), "one queue per Deployment"


@pytest.mark.parametrize("alternative", SCALING_ALTERNATIVES)
def test_every_worker_deployment_scales_on_its_own_queue(alternative):
    scaled = _of_kind("ScaledObject", DOCUMENTS[alternative])
    targets = {so["spec"]["scaleTargetRef"]["name"]: so for so in scaled.values()}
    assert set(targets) == set(WORKERS)
    for name, so in targets.items():
        (queue,) = WORKERS[name]
        spec = so["spec"]
        assert so["spec"]["scaleTargetRef"].get("kind", "Deployment") == "Deployment"
        assert 0 <= spec.get("minReplicaCount", 0) <= spec["maxReplicaCount"]
        (trigger,) = spec["triggers"]
        meta = trigger["metadata"]
        if trigger["type"] == "redis":
            # Celery's Redis transport keeps a queue in the list named after it, prefixed.
            assert meta["listName"] == CONFIG.get("CELERY_PREFIX", "") + queue
            redis_url = urlsplit(CONFIG["REDIS_URL"])
            assert meta["address"] == f"{redis_url.hostname}:{redis_url.port or 6379}"
            assert meta.get("databaseIndex", "0") == (redis_url.path.strip("/") or "0")
        else:
            assert trigger["type"] == "rabbitmq"
            assert meta["queueName"] == queue
            # The broker KEDA reads is the one the worker uses (from the Secret, not the config).
            assert meta["hostFromEnv"] == "CELERY_BROKER_URL"
            assert "CELERY_BROKER_URL" not in CONFIG


def test_the_two_scaling_alternatives_differ_only_in_their_trigger():
    redis_, rabbitmq = (_of_kind("ScaledObject", DOCUMENTS[a]) for a in SCALING_ALTERNATIVES)
    assert redis_.keys() == rabbitmq.keys()
    for name in redis_:
        a, b = copy.deepcopy(redis_[name]), copy.deepcopy(rabbitmq[name])
        a["spec"].pop("triggers")
        b["spec"].pop("triggers")
        assert a == b


def test_autoscaled_deployments_leave_the_count_to_the_autoscaler():
    """A `replicas` field would put the count back on every `kubectl apply`."""
    hpa_targets = {
        h["spec"]["scaleTargetRef"]["name"] for h in _of_kind("HorizontalPodAutoscaler").values()
    }
    assert hpa_targets == {"vivid-web"}
    for name in hpa_targets | set(WORKERS):
        assert "replicas" not in DEPLOYMENTS[name]["spec"], name


def test_beat_runs_exactly_once():
    beats = [
        name
        for name, d in DEPLOYMENTS.items()
        for c in d["spec"]["template"]["spec"]["containers"]
        if "beat" in _shell(c) and "celery" in _shell(c)
    ]
    assert beats == ["vivid-beat"]
    spec = DEPLOYMENTS["vivid-beat"]["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}  # never two at once, even while updating
    scaled = {
        so["spec"]["scaleTargetRef"]["name"] for a in SCALING_ALTERNATIVES for so in DOCUMENTS[a]
    }
    hpa_targets = {
        h["spec"]["scaleTargetRef"]["name"] for h in _of_kind("HorizontalPodAutoscaler").values()
    }
    assert "vivid-beat" not in scaled | hpa_targets


def _manage_py(command: list[str]) -> list[list[str]]:
    """The ``manage.py`` invocations in a container or probe command, each as name + options."""
    if command[:2] == ["sh", "-c"]:
        lexer = shlex.shlex(command[2], posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words = list(lexer)
    else:
        words = command
    calls = []
    for i, word in enumerate(words):
        if word == "manage.py":
            call = []
            for w in words[i + 1 :]:
                if w in (";", "&&", "||", "|", "&"):
                    break
                call.append(w)
            calls.append(call)
    return calls


def _all_manage_py() -> list[tuple[str, list[str]]]:
    calls = []
    for where, pod in _pod_specs().items():
        for container in _containers(pod):
            commands = [container.get("command", [])]
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                commands.append(container.get(probe, {}).get("exec", {}).get("command", []))
            calls += [(where, call) for command in commands for call in _manage_py(command)]
    return calls


def test_the_release_job_migrates_and_prepares_media_storage():
    (name,) = _of_kind("Job")
    calls = [call[0] for where, call in _all_manage_py() if where == f"Job/{name}"]
    assert calls == ["migrate", "media_storage_init"]


def test_every_manage_py_command_exists_and_takes_its_options():
    calls = _all_manage_py()
    assert len(calls) > len(WORKERS) + 3
    commands = get_commands()
    for where, (name, *options) in calls:
        assert name in commands, (where, name)
        parser = load_command_class(commands[name], name).create_parser("manage.py", name)
        parser.parse_args(options)  # CommandError on an unknown or malformed option


# --- settings -------------------------------------------------------------------------------


def test_every_vivid_container_reads_the_configmap_and_the_secret():
    seen = 0
    for where, pod in _pod_specs().items():
        for container in _containers(pod):
            if not _is_vivid(container):
                continue
            seen += 1
            sources = container.get("envFrom", [])
            assert {"configMapRef": {"name": "vivid"}} in sources, (where, container["name"])
            assert {"secretRef": {"name": "vivid"}} in sources, (where, container["name"])
    assert seen >= len(WORKERS) + 3  # web, beat, the release Job and every worker at least


def test_every_vivid_pod_signs_with_the_same_certificate():
    """A content-credential certificate made in each pod would differ from pod to pod, and what
    one pod signs would not verify on another: every Vivid container mounts the Secret's where
    Vivid looks for its own (C2PA_KEYS_DIR, under VIVID_VAR_DIR by default)."""
    assert not {"C2PA_KEYS_DIR", "LEDGER_KEYS_DIR", "C2PA_SIGNING_CERT"} & set(CONFIG)
    keys_dir = str(
        Path(CONFIG["VIVID_VAR_DIR"]) / Path(settings.C2PA_KEYS_DIR).relative_to(settings.VAR_DIR)
    )
    for where, pod in _pod_specs().items():
        secrets = {
            v["name"]: v["secret"]["secretName"] for v in pod.get("volumes", []) if "secret" in v
        }
        for container in _containers(pod):
            if _is_vivid(container):
                mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
                assert secrets.get(mounts.get(keys_dir)) == "vivid-c2pa", (where, container["name"])


def test_web_and_the_generation_worker_see_the_same_comfyui_workflows():
    """With ComfyUI, web offers each workflow as a model and the generation worker runs it (the
    image does not hold platform/comfyui/): both mount the workflows' ConfigMap at one path,
    the COMFYUI_WORKFLOWS_DIR the config names when it names one."""
    paths = set()
    for name in ["vivid-web", *(n for n, queues in WORKERS.items() if "generation" in queues)]:
        pod = DEPLOYMENTS[name]["spec"]["template"]["spec"]
        maps = {v["name"]: v["configMap"]["name"] for v in pod["volumes"] if "configMap" in v}
        (container,) = pod["containers"]
        mounted = [
            m["mountPath"]
            for m in container["volumeMounts"]
            if maps.get(m["name"]) == "vivid-comfyui-workflows"
        ]
        assert len(mounted) == 1, name
        paths.update(mounted)
    (path,) = paths
    assert CONFIG.get("COMFYUI_WORKFLOWS_DIR", path) == path


def test_settings_named_are_settings_vivid_reads():
    """Every variable the ConfigMap or a container sets is one platform/env.example documents."""
    documented = set(
        re.findall(r"^#?([A-Z][A-Z0-9_]+)=", (ROOT / "platform" / "env.example").read_text(), re.M)
    )
    named = set(CONFIG)
    for pod in _pod_specs().values():
        for container in _containers(pod):
            if _is_vivid(container):
                named.update(e["name"] for e in container.get("env", []))
    assert named - documented == set()


def test_shell_commands_use_only_variables_they_are_given():
    for where, pod in _pod_specs().items():
        for container in _containers(pod):
            if not _is_vivid(container) or container.get("command", [])[:2] != ["sh", "-c"]:
                continue
            given = set(CONFIG) | {e["name"] for e in container.get("env", [])}
            for name, default in re.findall(r"\$\{(\w+)(:-[^}]*)?\}", container["command"][2]):
                assert default or name in given, (where, container["name"], name)


def test_celery_commands_load_vivids_app():
    for where, pod in _pod_specs().items():
        for container in pod["containers"]:
            words = _shell(container)
            if "celery" in words:
                module, _, attribute = words[words.index("-A") + 1].partition(":")
                assert hasattr(importlib.import_module(module), attribute), where


# --- probes ---------------------------------------------------------------------------------


def test_web_pods_are_probed_on_a_page_that_answers_without_the_database():
    from apps.core import pwa

    web = DEPLOYMENTS["vivid-web"]["spec"]["template"]["spec"]
    (container,) = web["containers"]
    allowed = CONFIG["ALLOWED_HOSTS"].split(",")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        http = container[probe]["httpGet"]
        headers = {h["name"]: h["value"] for h in http["httpHeaders"]}
        assert headers["Host"] in allowed, probe  # any other host answers 400
        assert headers["X-Forwarded-Proto"] == "https", probe  # else the https redirect answers
        assert resolve(http["path"]).func is pwa.manifest, probe
        ports = {p.get("name"): p["containerPort"] for p in container["ports"]}
        assert http["port"] in ports or http["port"] in ports.values(), probe
    service = _of_kind("Service")["vivid-web"]
    assert service["spec"]["selector"].items() <= pod_labels("vivid-web").items()


def pod_labels(name: str) -> dict[str, str]:
    return DEPLOYMENTS[name]["spec"]["template"]["metadata"]["labels"]


@pytest.mark.parametrize("name", sorted(WORKERS))
def test_workers_are_probed_with_worker_health_on_their_own_queues(name):
    from apps.config.celery import HEARTBEAT_QUEUES
    from apps.core.management.commands.worker_health import Command

    (container,) = DEPLOYMENTS[name]["spec"]["template"]["spec"]["containers"]
    command = container["livenessProbe"]["exec"]["command"]
    assert command[:3] == ["python", "manage.py", "worker_health"]
    options = Command().create_parser("manage.py", "worker_health").parse_args(command[3:])
    assert options.ping  # this pod's own worker answers
    if not options.no_heartbeat:
        checked = set(options.queue or HEARTBEAT_QUEUES)
        # beat sends heartbeats only to these; and another Deployment's queue would restart
        # this one for that one's fault.
        assert checked <= set(HEARTBEAT_QUEUES) & WORKERS[name], checked
    # A generation may run GENERATION_JOB_TIME_LIMIT_S: the pod waits for it when stopped.
    if "generation" in WORKERS[name]:
        grace = DEPLOYMENTS[name]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        assert grace > settings.GENERATION_JOB_TIME_LIMIT_S


# --- disruption, resources, security --------------------------------------------------------


def test_every_scaled_deployment_has_a_disruption_budget():
    budgets = _of_kind("PodDisruptionBudget").values()
    for name in {"vivid-web"} | set(WORKERS):
        labels = pod_labels(name)
        matching = [
            b for b in budgets if b["spec"]["selector"]["matchLabels"].items() <= labels.items()
        ]
        assert len(matching) == 1, name
        assert matching[0]["spec"].get("maxUnavailable", 0) >= 1  # drains can proceed


def test_every_container_has_requests_and_limits():
    for where, pod in _pod_specs().items():
        for container in _containers(pod):
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= container["resources"][bound].keys(), (
                    where,
                    container["name"],
                )


def test_no_container_runs_as_root_or_can_become_root():
    uid = int(re.search(r"--uid (\d+)", (ROOT / "platform" / "Dockerfile").read_text())[1])
    for where, pod in _pod_specs().items():
        assert pod["securityContext"]["runAsNonRoot"] is True, where
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert pod.get("automountServiceAccountToken") is False, where
        for container in _containers(pod):
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, (where, container["name"])
            assert "ALL" in context["capabilities"]["drop"], (where, container["name"])
            if not _is_vivid(container):
                continue
            assert pod["securityContext"]["runAsUser"] == uid, where  # the image's own user
            assert context["readOnlyRootFilesystem"] is True, (where, container["name"])
            # ...so what Vivid writes has a volume: temporary files and VIVID_VAR_DIR.
            mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
            assert {"/tmp", CONFIG["VIVID_VAR_DIR"]} <= mounts, (where, container["name"])
