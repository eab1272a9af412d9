import pytest


@pytest.mark.django_db
def test_it_reports_the_database_and_an_in_process_broker(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "in-process"}


@pytest.mark.django_db
def test_it_reports_a_broker_that_is_down_as_degraded(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    from config.celery import app

    app.conf.broker_url = settings.CELERY_BROKER_URL
    try:
        response = client.get("/healthz")
    finally:
        app.conf.broker_url = None
    assert response.status_code == 503
    assert response.json()["broker"] == "down"


@pytest.mark.django_db
def test_it_echoes_a_request_id_that_is_a_uuid(client):
    offered = "3f2b8c1e-0d4a-4c55-9e21-7a6b5c4d3e2f"
    response = client.get("/healthz", HTTP_X_REQUEST_ID=offered)
    assert response["X-Request-ID"] == offered
