"""``cozegate operator``: run the Kubernetes operator that turns CozeBot resources into cozegate workers."""

from __future__ import annotations

from typing import Annotated

import typer

from cozegate.operator.config import DEFAULT_IMAGE, DEFAULT_SECRET_NAME

NAMESPACE_HELP = "Watch CozeBots in this namespace (repeat for several; globs allowed). Unset: every namespace."
IMAGE_HELP = "Image of the cozegate workers the operator deploys."
BACKENDS_HELP = (
    "Secret (in each CozeBot's namespace) with the keys database-url, redis-url and, optionally, coze-token; "
    "the workers read COZEGATE_DATABASE_URL, COZEGATE_REDIS_URL and COZEGATE_COZE_TOKEN from it."
)
PEERING_HELP = (
    "--standalone (default): this operator runs alone. --peering: coordinate with other instances through "
    "kopf's peering resource `cozegate-operator` (install kopf's peering CRD first), one active at a time."
)
LIVENESS_HELP = "Serve kopf's liveness probe at this URL, e.g. http://0.0.0.0:8080/healthz. Unset: no probe."


def operator(
    namespace: Annotated[list[str] | None, typer.Option("--namespace", "-n", help=NAMESPACE_HELP)] = None,
    image: Annotated[str, typer.Option(envvar="COZEGATE_OPERATOR_IMAGE", help=IMAGE_HELP)] = DEFAULT_IMAGE,
    secret_name: Annotated[
        str, typer.Option(envvar="COZEGATE_OPERATOR_SECRET", help=BACKENDS_HELP)
    ] = DEFAULT_SECRET_NAME,
    standalone: Annotated[bool, typer.Option("--standalone/--peering", help=PEERING_HELP)] = True,
    liveness: Annotated[str | None, typer.Option(envvar="COZEGATE_OPERATOR_LIVENESS", help=LIVENESS_HELP)] = None,
) -> None:
    """Run the Kubernetes operator for CozeBot resources (cozegate.io/v1alpha1).

    For each CozeBot it keeps a Deployment of cozegate workers (`cozegate serve`, probes on /healthz and
    /readyz), a Service, a ConfigMap of COZEGATE_* settings, a PodDisruptionBudget and, with
    spec.autoscaling, a HorizontalPodAutoscaler, all owned by the CozeBot (deleting it deletes them).
    The CozeBot's status shows Ready, Reconciled and Paused conditions and the ready replicas.

    It connects with its service account inside a pod, else with the current kubeconfig context.
    Install the CRD first: kubectl apply -f deploy/crd/cozebot.yaml (see deploy/README.md).
    """
    from cozegate.compliance.log_masking import masked_logging
    from cozegate.operator.config import OperatorConfig
    from cozegate.operator.runner import run
    from cozegate.settings import Settings

    masked_logging(Settings())
    config = OperatorConfig(image=image, secret_name=secret_name)
    run(config, namespaces=namespace or (), standalone=standalone, liveness_endpoint=liveness)
