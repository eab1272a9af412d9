"""Static files are served by the application itself (WhiteNoise), not only by runserver."""

import pytest


@pytest.mark.parametrize("path", ["/static/vendor/chart.js/chart.umd.min.js",
                                  "/static/admin/css/base.css"])
def test_static_files_are_served_without_debug(client, settings, path):
    assert settings.DEBUG is False  # as under gunicorn in production

    response = client.get(path)

    assert response.status_code == 200
    assert b"".join(response.streaming_content)
