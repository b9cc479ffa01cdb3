"""The ``CozeBot`` CustomResourceDefinition, as data.

This module is the single source of the CRD: ``deploy/crd/cozebot.yaml`` is its YAML rendering and a
test keeps the two equal, and the operator reads group, version and plural from here. The schema
mirrors the checks of ``cozegate.rollout.Rollout`` (names, weights in basis points that add up to
10000) so the API server refuses what the gateway would refuse, before any worker starts.
"""

from __future__ import annotations

import copy
from typing import Any

from cozegate.rollout.model import TOTAL_BPS

GROUP = "cozegate.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "CozeBot"
PLURAL = "cozebots"
SINGULAR = "cozebot"
CRD_NAME = f"{PLURAL}.{GROUP}"

ENVIRONMENTS = ("dev", "staging", "prod")
TENANT_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"  # the tenant names of cozegate.tenants
ROLLOUT_NAME_PATTERN = r"^[A-Za-z0-9_.-]+$"  # experiment and variant names of cozegate.rollout
# A Kubernetes label value: the version is the pods' app.kubernetes.io/version label.
LABEL_VALUE_PATTERN = r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
# A DNS-1035 label: the bot's name names its Service, which Kubernetes requires to be one.
BOT_NAME_PATTERN = r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"
# resource.Quantity as controller-gen writes it.
QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
CONDITION_REASON_PATTERN = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
PHASES = ("Pending", "Progressing", "Ready", "Stopped", "Paused", "Failed")
MAX_REPLICAS = 1000


def _string(description: str, **constraints: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **constraints}


def _integer(description: str, **constraints: Any) -> dict[str, Any]:
    return {"type": "integer", "format": "int32", "description": description, **constraints}


def _quantity(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "anyOf": [{"type": "integer"}, {"type": "string"}],
        "pattern": QUANTITY_PATTERN,
        "x-kubernetes-int-or-string": True,
    }


def _compute(description: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": description,
        "properties": {
            "cpu": _quantity("CPU, e.g. `250m` or `1`."),
            "memory": _quantity("Memory, e.g. `256Mi`."),
        },
    }


def _rollout_schema() -> dict[str, Any]:
    variant = {
        "type": "object",
        "required": ["name", "botId", "weightBps"],
        "properties": {
            "name": _string(
                "Variant name, unique in the rollout.", minLength=1, maxLength=64, pattern=ROLLOUT_NAME_PATTERN
            ),
            "botId": _string("The Coze bot (or bot version) this variant's users talk to.", minLength=1, maxLength=128),
            "weightBps": _integer("Share of users in basis points (100 = 1 %).", minimum=0, maximum=TOTAL_BPS),
        },
    }
    return {
        "type": "object",
        "description": "Gray release or A/B test: the tenant's users are split between bot versions by a stable "
        "hash of (experiment, user); the weights must add up to 10000 basis points.",
        "required": ["experiment", "variants"],
        "properties": {
            "experiment": _string(
                "Experiment name; users keep their variant while it and the weights stay.",
                minLength=1,
                maxLength=64,
                pattern=ROLLOUT_NAME_PATTERN,
            ),
            "variants": {
                "type": "array",
                "description": "Variants in order; each owns a consecutive range of the 10000 buckets.",
                "minItems": 1,
                "maxItems": 16,
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
                "items": variant,
            },
        },
        "x-kubernetes-validations": [
            {
                "rule": f"self.variants.map(v, v.weightBps).sum() == {TOTAL_BPS}",
                "message": f"the variants' weightBps must add up to {TOTAL_BPS}",
            }
        ],
    }


def _autoscaling_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "Scale the workers on CPU with a HorizontalPodAutoscaler; `replicas` is then only the "
        "start value (and 0 still stops the bot).",
        "required": ["maxReplicas"],
        "properties": {
            "minReplicas": _integer("Lower bound.", minimum=1, maximum=MAX_REPLICAS, default=1),
            "maxReplicas": _integer("Upper bound.", minimum=1, maximum=MAX_REPLICAS),
            "targetCPUUtilizationPercentage": _integer(
                "Average CPU use, in percent of the requested CPU, the autoscaler aims at.",
                minimum=1,
                maximum=100,
                default=70,
            ),
        },
        "x-kubernetes-validations": [
            {
                "rule": "!has(self.minReplicas) || self.minReplicas <= self.maxReplicas",
                "message": "minReplicas must not exceed maxReplicas",
            }
        ],
    }


def _spec_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "The bot this CozeBot runs workers for, and how many.",
        "required": ["botId", "tenant", "version"],
        "properties": {
            "botId": _string("The Coze bot the workers answer with.", minLength=1, maxLength=128),
            "tenant": _string("The cozegate tenant this bot serves.", pattern=TENANT_PATTERN),
            "env": _string("Deployment environment.", enum=list(ENVIRONMENTS), default="prod"),
            "version": _string(
                "Version of the bot's configuration; a change rolls the workers.",
                minLength=1,
                maxLength=63,
                pattern=LABEL_VALUE_PATTERN,
            ),
            "replicas": _integer("Worker pods; 0 stops the bot.", minimum=0, maximum=MAX_REPLICAS, default=1),
            "paused": {
                "type": "boolean",
                "description": "Stop reconciling: the operator writes nothing to the children (status still updates).",
                "default": False,
            },
            "rollout": _rollout_schema(),
            "resources": {
                "type": "object",
                "description": "Compute resources of each worker; unset values get the operator's defaults.",
                "properties": {
                    "requests": _compute("Requested resources (the autoscaler's CPU target is relative to these)."),
                    "limits": _compute("Resource limits."),
                },
            },
            "autoscaling": _autoscaling_schema(),
        },
    }


def _status_schema() -> dict[str, Any]:
    condition = {
        "type": "object",
        "required": ["type", "status", "reason", "message", "lastTransitionTime"],
        "properties": {
            "type": _string("Ready, Reconciled or Paused.", maxLength=316),
            "status": _string("True, False or Unknown.", enum=["True", "False", "Unknown"]),
            "reason": _string("Why, in CamelCase.", minLength=1, maxLength=1024, pattern=CONDITION_REASON_PATTERN),
            "message": _string("Why, for people.", maxLength=32768),
            "lastTransitionTime": _string("When the status last changed.", format="date-time"),
            "observedGeneration": {
                "type": "integer",
                "format": "int64",
                "minimum": 0,
                "description": "The generation of the spec this condition was set for.",
            },
        },
    }
    return {
        "type": "object",
        "description": "What the operator observed and did.",
        "properties": {
            "observedGeneration": {
                "type": "integer",
                "format": "int64",
                "description": "The generation of the spec the operator last acted upon.",
            },
            "phase": _string("One word for `kubectl get`.", enum=list(PHASES)),
            "replicas": _integer("Worker pods that exist (from the Deployment)."),
            "readyReplicas": _integer("Worker pods that are ready (from the Deployment)."),
            "conditions": {
                "type": "array",
                "description": "Ready, Reconciled and Paused.",
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["type"],
                "items": condition,
            },
        },
    }


def _printer_columns() -> list[dict[str, Any]]:
    return [
        {"name": "Tenant", "type": "string", "jsonPath": ".spec.tenant"},
        {"name": "Env", "type": "string", "jsonPath": ".spec.env"},
        {"name": "Version", "type": "string", "jsonPath": ".spec.version"},
        {"name": "Desired", "type": "integer", "jsonPath": ".spec.replicas"},
        {"name": "Ready", "type": "integer", "jsonPath": ".status.readyReplicas"},
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {"name": "Paused", "type": "boolean", "jsonPath": ".spec.paused", "priority": 1},
        {"name": "Bot", "type": "string", "jsonPath": ".spec.botId", "priority": 1},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]


_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {
        "name": CRD_NAME,
        "labels": {"app.kubernetes.io/name": "cozegate", "app.kubernetes.io/part-of": "cozegate"},
    },
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {
            "kind": KIND,
            "listKind": f"{KIND}List",
            "plural": PLURAL,
            "singular": SINGULAR,
            "shortNames": ["cbot"],
            "categories": ["cozegate"],
        },
        "versions": [
            {
                "name": VERSION,
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": _printer_columns(),
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "description": "A Coze bot run by cozegate workers; the cozegate operator keeps its "
                        "Deployment, Service, ConfigMap, PodDisruptionBudget and HorizontalPodAutoscaler.",
                        "required": ["spec"],
                        "properties": {
                            "apiVersion": {"type": "string"},
                            "kind": {"type": "string"},
                            "metadata": {
                                "type": "object",
                                "properties": {
                                    "name": {"type": "string", "maxLength": 63, "pattern": BOT_NAME_PATTERN},
                                },
                            },
                            "spec": _spec_schema(),
                            "status": _status_schema(),
                        },
                    }
                },
            }
        ],
    },
}


def cozebot_crd() -> dict[str, Any]:
    """The CustomResourceDefinition, a fresh copy each call (callers may change theirs)."""
    return copy.deepcopy(_CRD)


def render_yaml() -> str:
    """The CRD as ``deploy/crd/cozebot.yaml`` holds it: ``python -m cozegate.operator > deploy/crd/cozebot.yaml``."""
    import yaml

    header = "# Generated from src/cozegate/operator/crd.py: python -m cozegate.operator > deploy/crd/cozebot.yaml\n"
    return header + yaml.safe_dump(cozebot_crd(), sort_keys=False, width=120)


def cozebot_schema() -> dict[str, Any]:
    """The openAPIV3Schema of the served version: what the API server validates CozeBots against."""
    schema: dict[str, Any] = _CRD["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return copy.deepcopy(schema)
