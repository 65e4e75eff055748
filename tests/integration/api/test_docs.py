"""/docs and /redoc are served with their assets from the app itself: no CDN."""

import re

import pytest
from fastapi.testclient import TestClient


@pytest.mark.parametrize(
    ("page", "asset"),
    [
        ("/docs", "swagger-ui-bundle.js"),
        ("/docs", "swagger-ui.css"),
        ("/redoc", "redoc.standalone.js"),
    ],
)
def test_the_docs_load_their_assets_from_the_app(client: TestClient, page: str, asset: str) -> None:
    html = client.get(page)
    assert html.status_code == 200
    assert f"/docs/static/{asset}" in html.text
    served = client.get(f"/docs/static/{asset}")
    assert served.status_code == 200
    assert len(served.content) > 10_000


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_reference_no_other_host(client: TestClient, page: str) -> None:
    html = client.get(page).text
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), html


def test_swagger_ui_keeps_the_authorization_and_has_its_oauth2_redirect(client: TestClient) -> None:
    html = client.get("/docs").text
    assert '"persistAuthorization": true' in html
    assert "/docs/oauth2-redirect" in html
    assert client.get("/docs/oauth2-redirect").status_code == 200


def test_the_docs_routes_stay_out_of_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not [path for path in paths if path.startswith(("/docs", "/redoc"))]
