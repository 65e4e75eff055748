"""The long-lived objects of one process, built once from settings.

The API, the CLI and the worker each build one Runtime at start-up and hand its parts
to services, so keys are loaded and pools opened once, not per request.
"""

from dataclasses import dataclass

import redis

from backend.db.engine import Database
from backend.security.passwords import PasswordService
from backend.security.tokens import AccessTokenCodec
from backend.settings import Settings


@dataclass(frozen=True, slots=True)
class Runtime:
    settings: Settings
    database: Database
    passwords: PasswordService
    tokens: AccessTokenCodec
    redis: redis.Redis

    @classmethod
    def from_settings(cls, settings: Settings) -> "Runtime":
        return cls(
            settings=settings,
            database=Database.from_settings(settings),
            passwords=PasswordService(settings),
            tokens=AccessTokenCodec(settings),
            redis=redis.Redis.from_url(
                settings.redis_url, socket_timeout=2, socket_connect_timeout=2
            ),
        )

    def close(self) -> None:
        self.database.dispose()
        self.redis.close()
