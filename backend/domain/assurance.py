"""How a sign-in authenticated, in the words tokens carry: RFC 8176 `amr` methods and
the OpenID Connect `acr` class they make (Core §2), and the class an authorization
request asks for with `acr_values`."""

from collections.abc import Iterable

# RFC 8176 method references: a password, a one-time code, and more than one factor.
PASSWORD = "pwd"  # noqa: S105 (an amr value)
OTP = "otp"
MFA = "mfa"
ACR_PASSWORD = "urn:tessera:acr:pwd"  # noqa: S105 (an acr value)
ACR_MFA = "urn:tessera:acr:mfa"
# Tessera's classes, weakest first: a stronger one satisfies a request for a weaker.
ACR_VALUES = (ACR_PASSWORD, ACR_MFA)


def acr_for(amr: Iterable[str]) -> str:
    """The class a login's methods make: `mfa` among them is a second factor."""
    return ACR_MFA if MFA in amr else ACR_PASSWORD


def required_acr(acr_values: str | None) -> str | None:
    """The class an `acr_values` parameter needs: the weakest one it lists that Tessera
    knows (any listed class would do, OpenID Connect Core §3.1.2.1), or None when it
    lists none Tessera knows, which asks for nothing."""
    listed = set((acr_values or "").split())
    return next((acr for acr in ACR_VALUES if acr in listed), None)


def satisfies(amr: Iterable[str], acr: str | None) -> bool:
    """Whether a login with methods `amr` meets the class `acr` (None: any login)."""
    return acr is None or ACR_VALUES.index(acr_for(amr)) >= ACR_VALUES.index(acr)
