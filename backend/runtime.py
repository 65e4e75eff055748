"""The long-lived objects of one process, built once from settings.

The API, the CLI and the worker each build one Runtime at start-up and hand its parts
to services, so keys are loaded and pools opened once, not per request.
"""

from dataclasses import dataclass

import redis
from celery import Celery

from backend.db.engine import Database
from backend.security.id_tokens import IdTokenSigner
from backend.security.passkeys import RelyingParty
from backend.security.passwords import PasswordService
from backend.security.principal_cache import PrincipalCache
from backend.security.rate_limit import RateLimiter
from backend.security.sealing import Purpose, Sealer
from backend.security.standings_feed import StandingsFeed
from backend.security.tokens import AccessTokenCodec
from backend.services.auth import Issuers
from backend.services.effects import Effects
from backend.services.sessions import RefreshPolicy
from backend.settings import Settings
from backend.taskqueue.dispatch import SealedQueue, create_producer, send_job


@dataclass(frozen=True, slots=True)
class Runtime:
    settings: Settings
    database: Database
    passwords: PasswordService
    tokens: AccessTokenCodec
    issuers: Issuers
    redis: redis.Redis
    principal_cache: PrincipalCache
    celery: Celery
    # What use cases set off after their commit: this process's cache and job sender.
    effects: Effects
    token_limiter: RateLimiter
    # Tasks whose arguments are sealed: mails, password reset requests.
    sealed_queue: SealedQueue
    # Seals TOTP secrets at rest.
    factor_sealer: Sealer
    # Who passkeys are registered for, and the origins that may use them.
    relying_party: RelyingParty

    @classmethod
    def from_settings(cls, settings: Settings) -> "Runtime":
        tokens = AccessTokenCodec(settings)
        client = redis.Redis.from_url(
            settings.redis_url, socket_timeout=2, socket_connect_timeout=2
        )
        principal_cache = PrincipalCache(client)
        celery = create_producer(settings)
        sealed_queue = SealedQueue(celery, Sealer.from_settings(settings, Purpose.QUEUED_TASK))
        return cls(
            settings=settings,
            database=Database.from_settings(settings),
            passwords=PasswordService(settings),
            tokens=tokens,
            issuers=Issuers(
                codec=tokens,
                refresh=RefreshPolicy.from_settings(settings),
                platform_tenant_slug=settings.platform_tenant_slug,
                id_tokens=IdTokenSigner(tokens.keys, settings.jwt_issuer),
            ),
            redis=client,
            principal_cache=principal_cache,
            celery=celery,
            effects=Effects(
                principal_cache=principal_cache,
                standings=StandingsFeed(client, length=settings.standings_stream_length),
                dispatch=send_job(celery),
                mail=sealed_queue.mail,
            ),
            token_limiter=RateLimiter(
                client, name="token", limit=settings.token_rate_limit_per_minute
            ),
            sealed_queue=sealed_queue,
            factor_sealer=Sealer.from_settings(settings, Purpose.TOTP_SECRET),
            relying_party=RelyingParty(*settings.webauthn_relying_party()),
        )

    def close(self) -> None:
        self.principal_cache.close()
        self.celery.close()
        self.database.dispose()
        self.redis.close()
