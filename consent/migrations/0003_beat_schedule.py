"""Celery beat (django-celery-beat's database scheduler): `consent.tasks.tick` every minute,
Asia/Seoul, so reminders go out and requests expire without anyone running a command."""

from django.db import migrations

TASK_NAME = "consent: reminders, expiry, settling unknown SMS"


def register(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    schedule, _ = CrontabSchedule.objects.get_or_create(
        minute="*", hour="*", day_of_week="*", day_of_month="*", month_of_year="*",
        timezone="Asia/Seoul")
    PeriodicTask.objects.update_or_create(
        name=TASK_NAME, defaults={"task": "consent.tasks.tick", "crontab": schedule,
                                  "enabled": True})


def unregister(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("consent", "0002_sms_link_and_sender_lease"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(register, unregister)]
