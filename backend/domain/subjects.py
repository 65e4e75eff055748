"""Subjects: who a token is about (its `sub`)."""

from enum import StrEnum


class SubjectKind(StrEnum):
    """A token's subject is a user or a service account (the client-credentials grant).

    The values are stored (an access token's `kind` claim, audit actors such as
    `service_account:<id>`), so they never change.
    """

    USER = "user"
    SERVICE_ACCOUNT = "service_account"
