import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()


def _refuse_unsafe_production() -> None:
    """gunicorn does not run system checks; run them here so bad keys stop the start."""
    from django.conf import settings
    from django.core.checks import ERROR, run_checks

    if settings.IS_PRODUCTION:
        errors = [e for e in run_checks(include_deployment_checks=True) if e.level >= ERROR]
        if errors:
            raise SystemExit("refusing to start:\n" + "\n".join(str(e) for e in errors))


_refuse_unsafe_production()
