"""The Celery app. Without CELERY_BROKER_URL every task runs in-process (eager)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("consent_broker")
app.config_from_object("django.conf:settings", namespace="CELERY")
if not os.environ.get("CELERY_BROKER_URL"):
    # Eager: Celery still prepares a producer per task. The in-memory transport stands in for
    # a broker (otherwise a default amqp:// URL), named with a host because kombu logs a
    # warning for a URL without one on every task.
    app.conf.broker_url = "memory://localhost/"
app.autodiscover_tasks()
