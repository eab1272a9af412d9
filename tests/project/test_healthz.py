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
def test_it_echoes_a_request_id(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="ci-check-0001")
    assert response["X-Request-ID"] == "ci-check-0001"
