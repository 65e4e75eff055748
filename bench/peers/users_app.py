"""fastapi-users as its documentation sets it up: an async SQLAlchemy users table (here on
psycopg), a JWT strategy over a bearer transport, `POST /auth/jwt/login` and `GET
/users/me`, which reads the user from the database on every request.

Its own SQLAlchemy adapter pins SQLAlchemy below 2.1, so the few lines of it that these
routes use are written here (`UserTable`), the same queries.

Its database is PEER_DATABASE_URL (the bench makes one of its own); the table is
created and one user (PEER_USERNAME, PEER_PASSWORD) added at start-up, the password
hashed with pwdlib's recommended argon2, fastapi-users' default and Tessera's.
"""

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI
from fastapi_users import BaseUserManager, FastAPIUsers, UUIDIDMixin, schemas
from fastapi_users.authentication import AuthenticationBackend, BearerTransport, JWTStrategy
from fastapi_users.db import BaseUserDatabase
from sqlalchemy import String, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SECRET = os.environ.get("PEER_SECRET", "fastapi-users-secret-" + "x" * 40)


class Base(DeclarativeBase):
    pass


class User(Base):
    """fastapi-users' SQLAlchemyBaseUserTableUUID."""

    __tablename__ = "user"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(String(320), unique=True, index=True)
    hashed_password: Mapped[str] = mapped_column(String(1024))
    is_active: Mapped[bool] = mapped_column(default=True)
    is_superuser: Mapped[bool] = mapped_column(default=False)
    is_verified: Mapped[bool] = mapped_column(default=False)


class UserTable(BaseUserDatabase[User, uuid.UUID]):
    """fastapi-users' SQLAlchemyUserDatabase, without OAuth accounts."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, id: uuid.UUID) -> User | None:
        return await self.session.get(User, id)

    async def get_by_email(self, email: str) -> User | None:
        found: User | None = await self.session.scalar(
            select(User).where(func.lower(User.email) == func.lower(email))
        )
        return found

    async def create(self, create_dict: dict[str, Any]) -> User:
        user = User(**create_dict)
        self.session.add(user)
        await self.session.commit()
        await self.session.refresh(user)
        return user

    async def update(self, user: User, update_dict: dict[str, Any]) -> User:
        for key, value in update_dict.items():
            setattr(user, key, value)
        self.session.add(user)
        await self.session.commit()
        await self.session.refresh(user)
        return user

    async def delete(self, user: User) -> None:
        await self.session.delete(user)
        await self.session.commit()


class UserRead(schemas.BaseUser[uuid.UUID]):
    pass


class UserCreate(schemas.BaseUserCreate):
    pass


class UserManager(UUIDIDMixin, BaseUserManager[User, uuid.UUID]):
    reset_password_token_secret = SECRET
    verification_token_secret = SECRET


def create_app() -> FastAPI:
    engine = create_async_engine(os.environ["PEER_DATABASE_URL"], pool_size=40)
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def session() -> AsyncIterator[AsyncSession]:
        async with sessions() as db:
            yield db

    async def user_db(db: Annotated[AsyncSession, Depends(session)]) -> AsyncIterator[UserTable]:
        yield UserTable(db)

    async def user_manager(
        users: Annotated[UserTable, Depends(user_db)],
    ) -> AsyncIterator[UserManager]:
        yield UserManager(users)

    def strategy() -> JWTStrategy[User, uuid.UUID]:
        return JWTStrategy(secret=SECRET, lifetime_seconds=3600)

    backend = AuthenticationBackend(
        name="jwt",
        transport=BearerTransport(tokenUrl="auth/jwt/login"),
        get_strategy=strategy,
    )
    users = FastAPIUsers[User, uuid.UUID](user_manager, [backend])

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)
        email = os.environ.get("PEER_USERNAME", "peer@bench.test")
        async with sessions() as db:
            if await db.scalar(select(User.id).where(User.email == email)) is None:
                manager = UserManager(UserTable(db))
                await manager.create(
                    UserCreate(email=email, password=os.environ.get("PEER_PASSWORD", "secret"))
                )
        yield
        await engine.dispose()

    app = FastAPI(lifespan=lifespan)
    app.include_router(users.get_auth_router(backend), prefix="/auth/jwt")
    app.include_router(users.get_users_router(UserRead, schemas.BaseUserUpdate), prefix="/users")
    return app
