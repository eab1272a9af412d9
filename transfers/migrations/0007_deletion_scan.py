"""Deletions owed are searched every minute by Celery beat (`transfers.tasks.detect_deletions`),
not only when the recipient polls its feed, so webhooks and the officers' list do not wait
for a poll; each search reads only the consent changes since the previous one (DeletionScan).
"""

from django.db import migrations, models

TASK_NAME = "transfers: deletions owed after release"


def register(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    schedule, _ = CrontabSchedule.objects.get_or_create(
        minute="*", hour="*", day_of_week="*", day_of_month="*", month_of_year="*",
        timezone="Asia/Seoul")
    PeriodicTask.objects.update_or_create(
        name=TASK_NAME, defaults={"task": "transfers.tasks.detect_deletions",
                                  "crontab": schedule, "enabled": True})


def unregister(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("transfers", "0006_release_groups"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.CreateModel(
            name="DeletionScan",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True,
                                           serialize=False, verbose_name="ID")),
                ("lineage", models.UUIDField(unique=True, verbose_name="계획 계보 (lineage)")),
                ("scanned_at", models.DateTimeField(verbose_name="마지막 검사 시각")),
            ],
            options={
                "verbose_name": "삭제 대상 검사 (deletion scan)",
                "verbose_name_plural": "삭제 대상 검사 (deletion scans)",
            },
        ),
        migrations.RunPython(register, unregister),
    ]
