"""Re-sealing: every stored sealed value moved to the current encryption key, after a
rotation (a new TESSERA_ENCRYPTION_KEY, the old one in TESSERA_ENCRYPTION_KEYS_RETIRED).

The stored sealed values are the TOTP secrets (`factors.secret`, the factor's id as
associated data). The queue's sealed tasks are not stored: they drain, and the retired
key opens them meanwhile. The work goes tenant by tenant, a batch of factors per
transaction, its rows locked (a login checking a code waits, and so does a second
`reseal` running at once) and one audit event for what it changed. A crash loses at most
the batch it was in; a value the current key opens already is left as it is, so a
re-run does only what is left.
"""

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import Factor
from backend.db.session import unit_of_work
from backend.db.tenant_context import enter_tenant
from backend.security.sealing import Sealer, UnsealError
from backend.services import audit, sweeps

ACTOR = "system:tessera reseal"


@dataclass(slots=True)
class Resealed:
    """What a run found: values sealed afresh, already under the current key, and
    opened by no configured key (left as they are)."""

    resealed: int = 0
    current: int = 0
    unopenable: int = 0


def reseal_factors(sessions: sessionmaker[Session], sealer: Sealer, *, batch_size: int) -> Resealed:
    """Seal every TOTP secret a retired key opens under the current key."""
    found = Resealed()
    for tenant_id in sweeps.tenant_ids(sessions):
        after: uuid.UUID | None = None
        while True:
            with unit_of_work(sessions) as db:
                enter_tenant(db, tenant_id)
                batch = _batch(db, tenant_id, after, batch_size)
                changed = _reseal(db, sealer, batch, found)
                if changed:
                    audit.record(
                        db,
                        tenant_id=tenant_id,
                        actor=ACTOR,
                        action="factor.secrets_resealed",
                        target=f"tenant:{tenant_id}",
                        data={"resealed": changed},
                    )
            if len(batch) < batch_size:
                break
            after = batch[-1].id
    return found


def _batch(db: Session, tenant_id: uuid.UUID, after: uuid.UUID | None, size: int) -> list[Factor]:
    query = select(Factor).where(Factor.tenant_id == tenant_id, Factor.secret.is_not(None))
    if after is not None:
        query = query.where(Factor.id > after)
    return list(db.scalars(query.order_by(Factor.id).limit(size).with_for_update()))


def _reseal(db: Session, sealer: Sealer, batch: list[Factor], found: Resealed) -> int:
    changed = 0
    for factor in batch:
        if factor.secret is None:
            continue
        try:
            fresh = sealer.reseal(factor.secret, factor.id.bytes)
        except UnsealError:
            found.unopenable += 1
            continue
        if fresh is None:
            found.current += 1
        else:
            factor.secret = fresh
            changed += 1
    found.resealed += changed
    db.flush()
    return changed
