"""Guard FastAPI routes with Tessera access tokens, keeping Tessera's immediate cut-off."""

from tessera_fastapi.guard import TesseraCaller, TesseraGuard
from tessera_fastapi.keys import DiscoveryError

__all__ = ["DiscoveryError", "TesseraCaller", "TesseraGuard"]
