"""Accepting an invitation: unauthenticated, the token is the credential."""

from fastapi import APIRouter, Response

from backend.api.deps import AppRuntime, DbSession
from backend.api.schemas.errors import ErrorBody
from backend.api.schemas.users import InvitationAccept
from backend.services import invitations

router = APIRouter(prefix="/invitations", tags=["users"])


@router.post(
    "/accept",
    status_code=204,
    responses={400: {"model": ErrorBody, "description": "The token is invalid, expired or used"}},
)
def accept_invitation(body: InvitationAccept, db: DbSession, runtime: AppRuntime) -> Response:
    """Set your first password with the invitation token an admin gave you; then log in
    at `POST /token`. The token works once, for seven days. A password the tenant's
    policy refuses is 422 with the reason, and the token stays usable."""
    invitations.accept(db, runtime.passwords, body.token, body.password.get_secret_value())
    return Response(status_code=204)
