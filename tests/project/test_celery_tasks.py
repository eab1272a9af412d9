"""Every app's tasks are registered at start-up, so that a task can be queued by its name."""

from __future__ import annotations

import json
import subprocess
import sys

from django.conf import settings

_LIST_TASKS = (
    "import django; django.setup(); import json; from celery import current_app; "
    "print(json.dumps(sorted(name for name in current_app.tasks "
    "if not name.startswith('celery.'))))"
)


def test_a_fresh_process_knows_every_task_by_name_without_importing_its_module():
    listed = subprocess.run([sys.executable, "-c", _LIST_TASKS], capture_output=True,
                            text=True, check=True, cwd=settings.BASE_DIR,
                            env={"DJANGO_SETTINGS_MODULE": "tests.settings",
                                 "PATH": "/usr/bin:/bin"})
    names = set(json.loads(listed.stdout.strip().splitlines()[-1]))
    assert {"audit.tasks.seal_audit_log", "audit.tasks.seal_for_due_checkpoint",
            "audit.tasks.seal_after_commit", "audit.tasks.witness_checkpoint"} <= names
