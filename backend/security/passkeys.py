"""WebAuthn ceremonies through py_webauthn: the options a browser passes to
navigator.credentials.create()/get(), and the checks of what it sends back.

A credential from a browser is the JSON of its PublicKeyCredential (`toJSON()`): binary
fields in base64url. Everything read from it before verification (its challenge, its
id, its user handle) only picks which stored challenge and factor to verify it against;
py_webauthn then checks the origin, the relying party id's hash, the challenge, user
presence (and verification when asked) and the signature. Any malformed or unverified
credential is one CredentialError, whatever part of it was wrong.
"""

import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.options_to_json_dict import options_to_json_dict
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from backend.domain.passkeys import MAX_CREDENTIAL_JSON, TIMEOUT_MS

Options = dict[str, Any]
# What py_webauthn's parsers (CBOR, ASN.1, base64url, COSE keys) raise besides its own
# exceptions on input no authenticator made.
_MALFORMED = (
    WebAuthnException,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    OverflowError,
    RecursionError,
    binascii.Error,
    # From the attestation formats' certificate checks (a packed or tpm statement's
    # x5c), which the library leaves unwrapped.
    UnsupportedAlgorithm,
    InvalidSignature,
    x509.ExtensionNotFound,
)


class CredentialError(Exception):
    """The credential is malformed, or does not verify against what was expected."""


@dataclass(frozen=True, slots=True)
class RelyingParty:
    """Who the passkeys are for: the id credentials are scoped to (a domain, the host of
    the pages or a suffix of it) and the origins whose pages may run the ceremonies."""

    id: str
    origins: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Allowed:
    """A registered credential, offered to the browser for an assertion."""

    credential_id: bytes
    transports: str


@dataclass(frozen=True, slots=True)
class Registered:
    credential_id: bytes
    public_key: bytes
    sign_count: int
    transports: str
    # None when the browser did not say (no credProps extension result).
    discoverable: bool | None
    backup_eligible: bool
    backed_up: bool


@dataclass(frozen=True, slots=True)
class Asserted:
    sign_count: int
    backed_up: bool


def parse(presented: str | Mapping[str, Any]) -> dict[str, Any]:
    """A credential's JSON as a dict; CredentialError if it is too long, not JSON (deep
    nesting included) or not an object."""
    if isinstance(presented, Mapping):
        return dict(presented)
    if len(presented) > MAX_CREDENTIAL_JSON:
        raise CredentialError("the credential is too long")
    try:
        parsed = json.loads(presented)
    except (ValueError, RecursionError) as exc:
        raise CredentialError("the credential is not JSON") from exc
    if not isinstance(parsed, dict):
        raise CredentialError("the credential is not a JSON object")
    return parsed


def challenge_of(credential: Mapping[str, Any]) -> bytes:
    """The challenge the browser says it signed (clientDataJSON), to find its ceremony."""
    try:
        client_data = json.loads(_field(credential["response"], "clientDataJSON"))
        return base64url_to_bytes(client_data["challenge"])
    except _MALFORMED as exc:
        raise CredentialError("the credential has no readable challenge") from exc


def credential_id_of(credential: Mapping[str, Any]) -> bytes:
    try:
        return _field(credential, "rawId")
    except _MALFORMED as exc:
        raise CredentialError("the credential has no readable id") from exc


def user_handle_of(credential: Mapping[str, Any]) -> bytes | None:
    """The user handle a discoverable credential's assertion carries, if any."""
    try:
        handle = credential["response"].get("userHandle")
        return None if handle is None else base64url_to_bytes(handle)
    except _MALFORMED as exc:
        raise CredentialError("the credential's user handle is not readable") from exc


def _field(container: Any, name: str) -> bytes:
    value = container[name]
    if not isinstance(value, str):
        raise TypeError(name)
    return base64url_to_bytes(value)


def creation_options(
    rp: RelyingParty,
    *,
    rp_name: str,
    user_id: bytes,
    user_name: str,
    display_name: str,
    challenge: bytes,
    exclude: Sequence[Allowed],
) -> Options:
    """PublicKeyCredentialCreationOptions as JSON: a discoverable credential preferred
    (so it can sign in alone where the tenant allows it), user verification preferred,
    no attestation (Tessera trusts no vendor list), the user's credentials excluded."""
    options = options_to_json_dict(
        generate_registration_options(
            rp_id=rp.id,
            rp_name=rp_name,
            user_id=user_id,
            user_name=user_name,
            user_display_name=display_name,
            challenge=challenge,
            timeout=TIMEOUT_MS,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.PREFERRED,
                user_verification=UserVerificationRequirement.PREFERRED,
            ),
            exclude_credentials=_descriptors(exclude),
        )
    )
    # credProps: the browser says whether the credential is discoverable.
    options["extensions"] = {"credProps": True}
    return options


def request_options(
    rp: RelyingParty, *, challenge: bytes, allow: Sequence[Allowed], user_verification: bool
) -> Options:
    """PublicKeyCredentialRequestOptions as JSON. With no credentials allowed, the
    browser offers the discoverable ones it holds for this relying party."""
    return options_to_json_dict(
        generate_authentication_options(
            rp_id=rp.id,
            challenge=challenge,
            timeout=TIMEOUT_MS,
            allow_credentials=_descriptors(allow),
            user_verification=(
                UserVerificationRequirement.REQUIRED
                if user_verification
                else UserVerificationRequirement.PREFERRED
            ),
        )
    )


def verify_registration(
    rp: RelyingParty, credential: Mapping[str, Any], challenge: bytes
) -> Registered:
    """Check a new credential (navigator.credentials.create()'s answer)."""
    try:
        verified = verify_registration_response(
            credential=dict(credential),
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=list(rp.origins),
        )
        response = credential["response"]
        transports = response.get("transports") or []
        properties = (credential.get("clientExtensionResults") or {}).get("credProps") or {}
    except _MALFORMED as exc:
        raise CredentialError("the credential does not verify") from exc
    known = {t.value for t in AuthenticatorTransport}
    discoverable = properties.get("rk") if isinstance(properties, Mapping) else None
    return Registered(
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        transports=" ".join(
            sorted({t for t in transports if isinstance(t, str) and t in known})
            if isinstance(transports, list)
            else []
        ),
        discoverable=discoverable if isinstance(discoverable, bool) else None,
        backup_eligible=verified.credential_device_type is CredentialDeviceType.MULTI_DEVICE,
        backed_up=verified.credential_backed_up,
    )


def verify_assertion(
    rp: RelyingParty,
    credential: Mapping[str, Any],
    *,
    challenge: bytes,
    public_key: bytes,
    user_verification: bool,
) -> Asserted:
    """Check an assertion (navigator.credentials.get()'s answer) against a stored key.

    The signature counter is left to the caller (domain/passkeys.counter_advanced), so
    that a count going backwards is told apart, and audited, only for a signature that
    verified: py_webauthn gets a stored count of 0, for which it checks nothing."""
    try:
        verified = verify_authentication_response(
            credential=dict(credential),
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=list(rp.origins),
            credential_public_key=public_key,
            credential_current_sign_count=0,
            require_user_verification=user_verification,
        )
    except _MALFORMED as exc:
        raise CredentialError("the assertion does not verify") from exc
    return Asserted(
        sign_count=verified.new_sign_count,
        backed_up=verified.credential_backed_up,
    )


def _descriptors(credentials: Sequence[Allowed]) -> list[PublicKeyCredentialDescriptor]:
    return [
        PublicKeyCredentialDescriptor(
            id=c.credential_id,
            transports=[AuthenticatorTransport(t) for t in c.transports.split()],
        )
        for c in credentials
    ]
