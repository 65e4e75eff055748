"""Prometheus metrics, unguarded like the probes: keep the path off the public network."""

from fastapi import APIRouter
from fastapi.responses import Response

from backend.observability import metrics

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text exposition format",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
def prometheus_metrics() -> Response:
    """Request counts and latencies by route template and status, logins by outcome,
    token refreshes and reuse detections.

    Unauthenticated, for the scraper: expose it only inside the cluster (route `/metrics`
    away at the load balancer or ingress). It holds counts, never tenant data.
    """
    body, content_type = metrics.render()
    return Response(content=body, media_type=content_type)
