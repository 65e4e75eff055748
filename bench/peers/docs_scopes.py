"""The FastAPI documentation's "OAuth2 scopes" tutorial, as its readers deploy it.

Users live in a dict; `POST /token` checks a password (pwdlib's recommended argon2, as
the tutorial) and signs an HS256 JWT with the requested scopes; `GET /users/me/`
decodes it, checks the `me` scope and reads the dict. No revocation, no standing, no
tenant. The password is hashed at start-up with the same parameters as Tessera's
default (PEER_PASSWORD, PEER_USERNAME from the environment).
"""

import os
from datetime import UTC, datetime, timedelta
from typing import Annotated

import jwt
from fastapi import Depends, FastAPI, HTTPException, Security, status
from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm, SecurityScopes
from pwdlib import PasswordHash
from pydantic import BaseModel

SECRET = os.environ.get("PEER_SECRET", "docs-example-secret-" + "x" * 40)
ALGORITHM = "HS256"


class User(BaseModel):
    username: str
    full_name: str | None = None
    disabled: bool = False


class StoredUser(User):
    hashed_password: str


class Token(BaseModel):
    access_token: str
    token_type: str


def create_app() -> FastAPI:
    hasher = PasswordHash.recommended()
    username = os.environ.get("PEER_USERNAME", "johndoe")
    users = {
        username: StoredUser(
            username=username,
            full_name="John Doe",
            hashed_password=hasher.hash(os.environ.get("PEER_PASSWORD", "secret")),
        )
    }
    scheme = OAuth2PasswordBearer(tokenUrl="token", scopes={"me": "Read yourself"})
    app = FastAPI()

    async def current_user(
        security_scopes: SecurityScopes, token: Annotated[str, Depends(scheme)]
    ) -> User:
        refused = HTTPException(status.HTTP_401_UNAUTHORIZED, "Could not validate credentials")
        try:
            claims = jwt.decode(token, SECRET, algorithms=[ALGORITHM])
        except jwt.InvalidTokenError:
            raise refused from None
        user = users.get(claims.get("sub", ""))
        if user is None:
            raise refused
        granted = claims.get("scope", "").split()
        if any(scope not in granted for scope in security_scopes.scopes):
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Not enough permissions")
        return user

    async def active_user(user: Annotated[User, Security(current_user, scopes=["me"])]) -> User:
        if user.disabled:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "Inactive user")
        return user

    @app.post("/token")
    async def login(form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> Token:
        user = users.get(form.username)
        # As the tutorial: the hash is verified on the event loop.
        if user is None or not hasher.verify(form.password, user.hashed_password):
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "Incorrect username or password")
        claims = {
            "sub": user.username,
            "scope": " ".join(form.scopes),
            "exp": datetime.now(UTC) + timedelta(minutes=30),
        }
        token = jwt.encode(claims, SECRET, ALGORITHM)
        return Token(access_token=token, token_type="bearer")  # noqa: S106 (the scheme)

    @app.get("/users/me/")
    async def read_me(user: Annotated[User, Depends(active_user)]) -> User:
        return user

    return app
