"""The parameters of the hosted sign-in pages: /authorize's query (and its form, which
carries the same parameters back with the credentials) and /logout's."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from backend.api.hosted import CSRF_FIELD
from backend.api.schemas.text import Text
from backend.domain.clients import MAX_URI_LENGTH
from backend.domain.policy import MAX_PASSWORD_LENGTH

_Short = Annotated[Text | None, Field(max_length=500)]
_Uri = Annotated[Text | None, Field(max_length=MAX_URI_LENGTH)]


class AuthorizeQuery(BaseModel):
    """RFC 6749 §4.1.1 with PKCE (RFC 7636 §4.3) and OpenID Connect Core §3.1.2.1."""

    # Unknown parameters are ignored, as RFC 6749 §3.1 asks.
    model_config = ConfigDict(extra="ignore")

    response_type: _Short = None
    client_id: _Short = None
    redirect_uri: _Uri = None
    scope: Annotated[Text | None, Field(max_length=2000)] = None
    state: _Short = None
    code_challenge: _Short = None
    code_challenge_method: _Short = None
    nonce: _Short = None
    prompt: _Short = None
    login_hint: _Short = None
    tenant: _Short = None
    resource: _Uri = None
    # OpenID Connect Core §3.1.2.1: the authentication class asked for (space-separated)
    # and the oldest sign-in, in seconds, a browser session may answer with.
    acr_values: _Short = None
    max_age: _Short = None


class SignInForm(AuthorizeQuery):
    """The hosted sign-in form: the request's parameters, carried in hidden fields, and
    what the person typed."""

    email: Annotated[Text, Field(max_length=320)] = ""
    password: Annotated[str, Field(max_length=MAX_PASSWORD_LENGTH)] = ""
    csrf_token: Annotated[Text | None, Field(alias=CSRF_FIELD, max_length=200)] = None


class LogoutQuery(BaseModel):
    """OpenID Connect RP-Initiated Logout §2."""

    model_config = ConfigDict(extra="ignore")

    id_token_hint: Annotated[Text | None, Field(max_length=8192)] = None
    post_logout_redirect_uri: _Uri = None
    client_id: _Short = None
    state: _Short = None


class LogoutForm(LogoutQuery):
    csrf_token: Annotated[Text | None, Field(alias=CSRF_FIELD, max_length=200)] = None


class SecondFactorForm(AuthorizeQuery):
    """The hosted sign-in's second step: the request's parameters again, the challenge
    the password step made, and a TOTP code or a recovery code."""

    mfa_token: Annotated[Text, Field(max_length=200)] = ""
    otp: Annotated[Text, Field(max_length=6)] = ""
    recovery_code: Annotated[Text, Field(max_length=40)] = ""
    csrf_token: Annotated[Text | None, Field(alias=CSRF_FIELD, max_length=200)] = None


class EnrolForm(AuthorizeQuery):
    """The hosted sign-in's enrolment step (the tenant's `mfa: required`): the request's
    parameters again, the challenge the password step made, and the first code of the
    new factor, or `later` while the grace lasts."""

    mfa_token: Annotated[Text, Field(max_length=200)] = ""
    code: Annotated[Text, Field(max_length=6)] = ""
    later: Annotated[Text, Field(max_length=10)] = ""
    csrf_token: Annotated[Text | None, Field(alias=CSRF_FIELD, max_length=200)] = None
