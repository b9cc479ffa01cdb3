"""The children a CozeBot should have: pure functions from a CozeBot to Kubernetes manifests.

Nothing here talks to Kubernetes, so every rule about the workers (labels, probes, owner references,
who owns ``replicas``) is checked by plain tests and by property tests over any valid spec.

Each manifest carries ``cozegate.io/spec-hash``, a hash of the manifest itself: the reconciler skips a
child whose stored object already holds everything desired, and the hash changing is what tells it a
field was removed (server-side apply then drops the fields the operator no longer sets).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from cozegate.operator.config import OPTIONAL_SECRET_KEYS, SECRET_KEYS, OperatorConfig
from cozegate.operator.crd import API_VERSION, KIND
from cozegate.operator.spec import CozeBot, parse_cozebot

Manifest = dict[str, Any]

MANAGED_BY = "cozegate-operator"
LABEL_NAME = "app.kubernetes.io/name"
LABEL_INSTANCE = "app.kubernetes.io/instance"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_VERSION = "app.kubernetes.io/version"
LABEL_BOT = "cozegate.io/bot"
LABEL_ENV = "cozegate.io/env"
ANNOTATION_TENANT = "cozegate.io/tenant"
ANNOTATION_SPEC_HASH = "cozegate.io/spec-hash"
ANNOTATION_CONFIG_HASH = "cozegate.io/config-hash"

CONTAINER_NAME = "cozegate"
CONTAINER_PORT = 8000
SERVICE_PORT = 80
STATE_DIR = "/var/lib/cozegate"
RUN_AS = 10001
DEFAULT_REQUESTS = {"cpu": "100m", "memory": "256Mi"}
DEFAULT_LIMITS = {"memory": "512Mi"}  # no CPU limit: throttling hurts latency more than a noisy neighbour

DEPLOYMENT = ("apps/v1", "Deployment")
SERVICE = ("v1", "Service")
CONFIG_MAP = ("v1", "ConfigMap")
PDB = ("policy/v1", "PodDisruptionBudget")
HPA = ("autoscaling/v2", "HorizontalPodAutoscaler")
CHILD_KINDS = (CONFIG_MAP, SERVICE, DEPLOYMENT, PDB, HPA)  # the order children are applied in


def selector_labels(bot: CozeBot) -> dict[str, str]:
    """The pods' identity; a Deployment's selector is immutable, so nothing that changes goes in here."""
    return {LABEL_NAME: "cozegate", LABEL_INSTANCE: bot.name}


def child_labels(bot: CozeBot) -> dict[str, str]:
    return {
        **selector_labels(bot),
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_COMPONENT: "bot-worker",
        LABEL_VERSION: bot.spec.version,
        LABEL_BOT: bot.name,
        LABEL_ENV: bot.spec.env,
    }


def owner_reference(bot: CozeBot) -> dict[str, Any]:
    """Makes the CozeBot the controller of a child: deleting the CozeBot lets the garbage collector delete it."""
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": bot.name,
        "uid": bot.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def config_map_name(bot: CozeBot) -> str:
    return f"{bot.name}-config"


def _metadata(bot: CozeBot, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": bot.namespace,
        "labels": child_labels(bot),
        "annotations": {ANNOTATION_TENANT: bot.spec.tenant},
        "ownerReferences": [owner_reference(bot)],
    }


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def _stamped(manifest: Manifest) -> Manifest:
    manifest["metadata"]["annotations"][ANNOTATION_SPEC_HASH] = _digest(manifest)
    return manifest


def settings_env(bot: CozeBot) -> dict[str, str]:
    """The workers' COZEGATE_* settings (the ConfigMap's data).

    The process settings put the server on all interfaces (probes come from the kubelet), keep state in
    the writable volume, read tenants from the shared database and leave migrations to the migrate Job.
    Which Coze bot answers is not a worker setting: the tenants configuration and the lifecycle's live
    release decide it for every replica alike.
    """
    return {
        "COZEGATE_HOST": "0.0.0.0",  # noqa: S104 - a pod's server must be reachable by the kubelet and the Service
        "COZEGATE_PORT": str(CONTAINER_PORT),
        "COZEGATE_LOG_FORMAT": "json",
        "COZEGATE_STATE_DIR": STATE_DIR,
        "COZEGATE_TENANTS_SOURCE": "database",
        "COZEGATE_AUTO_MIGRATE": "false",
    }


def config_map(bot: CozeBot) -> Manifest:
    return _stamped(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _metadata(bot, config_map_name(bot)),
            "data": settings_env(bot),
        }
    )


def service(bot: CozeBot) -> Manifest:
    return _stamped(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _metadata(bot, bot.name),
            "spec": {
                "type": "ClusterIP",
                "selector": selector_labels(bot),
                "ports": [{"name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP"}],
            },
        }
    )


def _secret_env(config: OperatorConfig) -> list[dict[str, Any]]:
    env = []
    for variable, key in SECRET_KEYS.items():
        ref: dict[str, Any] = {"name": config.secret_name, "key": key}
        if key in OPTIONAL_SECRET_KEYS:
            ref["optional"] = True
        env.append({"name": variable, "valueFrom": {"secretKeyRef": ref}})
    return env


def _resources(bot: CozeBot) -> dict[str, Any]:
    return {
        "requests": {**DEFAULT_REQUESTS, **bot.spec.resources.requests.as_dict()},
        "limits": {**DEFAULT_LIMITS, **bot.spec.resources.limits.as_dict()},
    }


def _container(bot: CozeBot, config: OperatorConfig) -> dict[str, Any]:
    def probe(path: str, period: int, failures: int) -> dict[str, Any]:
        return {
            "httpGet": {"path": path, "port": "http"},
            "periodSeconds": period,
            "timeoutSeconds": 2,
            "failureThreshold": failures,
        }

    return {
        "name": CONTAINER_NAME,
        "image": config.image,
        "imagePullPolicy": config.image_pull_policy,
        "command": ["cozegate"],
        "args": ["serve"],
        "ports": [{"name": "http", "containerPort": CONTAINER_PORT, "protocol": "TCP"}],
        "envFrom": [{"configMapRef": {"name": config_map_name(bot)}}],
        "env": _secret_env(config),
        "startupProbe": probe("/healthz", 2, 30),  # up to a minute to start before liveness counts
        "livenessProbe": probe("/healthz", 10, 3),
        "readinessProbe": probe("/readyz", 5, 3),
        "resources": _resources(bot),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "state", "mountPath": STATE_DIR}, {"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108
    }


def deployment(bot: CozeBot, config: OperatorConfig, settings: Mapping[str, str] | None = None) -> Manifest:
    """The workers. With autoscaling the HPA owns ``replicas``, so the manifest leaves it out."""
    settings = settings_env(bot) if settings is None else settings
    spec: dict[str, Any] = {
        "revisionHistoryLimit": 5,
        "selector": {"matchLabels": selector_labels(bot)},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
        "template": {
            "metadata": {
                "labels": child_labels(bot),
                # envFrom is read at start: a new hash rolls the pods when the settings change.
                "annotations": {ANNOTATION_TENANT: bot.spec.tenant, ANNOTATION_CONFIG_HASH: _digest(dict(settings))},
            },
            "spec": {
                "automountServiceAccountToken": False,  # the workers never call the Kubernetes API
                "enableServiceLinks": False,
                "terminationGracePeriodSeconds": 30,
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": RUN_AS,
                    "runAsGroup": RUN_AS,
                    "fsGroup": RUN_AS,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "topologySpreadConstraints": [
                    {
                        "maxSkew": 1,
                        "topologyKey": "kubernetes.io/hostname",
                        "whenUnsatisfiable": "ScheduleAnyway",
                        "labelSelector": {"matchLabels": selector_labels(bot)},
                    }
                ],
                "containers": [_container(bot, config)],
                "volumes": [{"name": "state", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}],
            },
        },
    }
    if not autoscaled(bot):
        spec["replicas"] = bot.spec.replicas
    return _stamped({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _metadata(bot, bot.name), "spec": spec})


def pod_disruption_budget(bot: CozeBot) -> Manifest:
    """At most one worker down by eviction at a time; never blocks a node drain, even with one replica."""
    return _stamped(
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": _metadata(bot, bot.name),
            "spec": {
                "maxUnavailable": 1,
                "selector": {"matchLabels": selector_labels(bot)},
                "unhealthyPodEvictionPolicy": "AlwaysAllow",
            },
        }
    )


def autoscaled(bot: CozeBot) -> bool:
    """Autoscaling applies while the bot runs: ``replicas: 0`` stops it even with an autoscaler configured."""
    return bot.spec.autoscaling is not None and bot.spec.replicas > 0


def horizontal_pod_autoscaler(bot: CozeBot) -> Manifest | None:
    scaling = bot.spec.autoscaling
    if scaling is None or not autoscaled(bot):
        return None
    return _stamped(
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": _metadata(bot, bot.name),
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": bot.name},
                "minReplicas": scaling.min_replicas,
                "maxReplicas": scaling.max_replicas,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": scaling.target_cpu_percent},
                        },
                    }
                ],
            },
        }
    )


def children(bot: CozeBot, config: OperatorConfig) -> list[Manifest]:
    """Every child the bot should have, in apply order (the ConfigMap before the pods that read it)."""
    settings = settings_env(bot)
    desired = [config_map(bot), service(bot), deployment(bot, config, settings), pod_disruption_budget(bot)]
    hpa = horizontal_pod_autoscaler(bot)
    if hpa is not None:
        desired.append(hpa)
    return desired


def desired_children(body: Mapping[str, Any], config: OperatorConfig) -> list[Manifest]:
    """``children`` from a raw CozeBot object; raises ``InvalidSpec`` for one that cannot have any."""
    return children(parse_cozebot(body), config)


def child_name(bot: CozeBot, kind: tuple[str, str]) -> str:
    """The name a child of the given (apiVersion, kind) has: the bot's, but ``<bot>-config`` for the ConfigMap."""
    return config_map_name(bot) if kind == CONFIG_MAP else bot.name


def is_subset(wanted: Any, stored: Any) -> bool:
    """True if ``stored`` holds every field of ``wanted`` with the same value (the server may add more).

    Lists must match item by item: the API server keeps the order and length of the lists it is given.
    """
    if isinstance(wanted, Mapping):
        return isinstance(stored, Mapping) and all(k in stored and is_subset(v, stored[k]) for k, v in wanted.items())
    if isinstance(wanted, list):
        return (
            isinstance(stored, list)
            and len(wanted) == len(stored)
            and all(is_subset(w, s) for w, s in zip(wanted, stored, strict=True))
        )
    return bool(wanted == stored and type(wanted) is type(stored))
