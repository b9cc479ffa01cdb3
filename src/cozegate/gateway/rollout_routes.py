"""``GET /admin/rollouts``: every tenant's rollout, its weights and the exposures each variant got here."""

from __future__ import annotations

from dataclasses import asdict

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cozegate.gateway.admin_auth import Authenticator, admin_endpoint
from cozegate.rollout import Exposures
from cozegate.rollout.splits import rollout_splits
from cozegate.tenants.live import LiveTenants


def rollout_routes(tenants: LiveTenants, exposures: Exposures, auth: Authenticator) -> list[Route]:
    async def rollouts(request: Request, actor: str) -> Response:
        listed = [asdict(split) for split in rollout_splits(tenants.current.rollouts(), exposures)]
        return JSONResponse({"rollouts": listed, "exposures_scope": "this process (Prometheus sums replicas)"})

    return [Route("/admin/rollouts", admin_endpoint(rollouts, auth), methods=["GET"])]
