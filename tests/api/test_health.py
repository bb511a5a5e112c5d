"""Liveness and readiness."""

from __future__ import annotations

from flask.testing import FlaskClient

from transit import migrate


def test_healthz_says_the_process_is_alive(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_is_ready_when_the_schema_is_at_head(client: FlaskClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ready", "revision": migrate.head_revision()}


def test_readyz_is_503_when_the_schema_is_behind(client: FlaskClient) -> None:
    engine = client.application.extensions["transit"].engine
    migrate.downgrade(engine, "base")
    try:
        response = client.get("/readyz", headers={"Accept-Language": "en"})
        assert response.status_code == 503
        assert response.mimetype == "application/problem+json"
        body = response.get_json(force=True)
        assert body["code"] == "not_ready"
        assert body["detail"] == (
            f"The database is at revision none (empty); the code needs {migrate.head_revision()}."
        )
    finally:
        migrate.upgrade(engine)


def test_readyz_is_503_when_the_database_cannot_be_reached(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from api import create_app

    app = create_app(
        {
            "DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none",
            "INSTANCE_PATH": str(tmp_path),
            "LOG_JSON": False,
        }
    )
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json(force=True)["code"] == "not_ready"
