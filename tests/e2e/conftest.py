"""The end-to-end suites' Tessera: one live process per module (EdDSA, its URL as
issuer); each test arranges its own data, which is emptied after it."""

from collections.abc import Iterator

import pytest

from backend.settings import Settings
from tests.support.kit import start_tessera
from tests.support.live_server import LiveServer


@pytest.fixture(scope="module")
def tessera(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    var_dir = tmp_path_factory.mktemp("e2e")
    server = start_tessera(settings, var_dir / "var", var_dir / "tessera.log")
    yield server
    server.stop()
