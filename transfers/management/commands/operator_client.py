"""Create or revoke an operator's OAuth2 client (client credentials)."""

import json
import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from governance.models import Operator
from transfers.models import OperatorClient
from transfers.services import operator_client_create, operator_client_revoke

SYSTEM = ("system", "system:manage.py")


class Command(BaseCommand):
    help = ("create: a new API client for an operator; its secret is printed once (or written "
            "to --out, mode 0600) and only its hash is kept. revoke: disable a client.")

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["create", "revoke"])
        parser.add_argument("--operator", help="operator code, e.g. SHINHAN (create)")
        parser.add_argument("--client-id", help="the client to revoke")
        parser.add_argument("--webhook-url", default="", help="deletion notices also go here")
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")
        parser.add_argument("--out", help="write the credentials JSON here instead (0600)")

    def handle(self, *args, action, operator=None, client_id=None, webhook_url="",
               base_url="", out=None, **options):
        if action == "revoke":
            client = OperatorClient.objects.filter(application__client_id=client_id).first()
            if client is None:
                raise CommandError("no such client")
            operator_client_revoke(client=client, by=SYSTEM)
            self.stdout.write(f"revoked {client_id}")
            return
        found = Operator.objects.filter(code=operator or "").first()
        if found is None:
            raise CommandError(f"no operator with code {operator!r}")
        new = operator_client_create(operator=found, by=SYSTEM, webhook_url=webhook_url)
        credentials = json.dumps({"operator": found.code, "client_id": new.client_id,
                                  "client_secret": new.client_secret, "base_url": base_url},
                                 indent=2)
        if out:
            write_secret_file(Path(out), credentials)
            self.stdout.write(f"credentials written to {out} (shown nowhere else)")
        else:
            self.stdout.write(credentials)
            self.stdout.write("The secret is shown only now; the service keeps its hash.")


def write_secret_file(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    path.chmod(0o600)
