from django.core.management.base import BaseCommand, CommandError

from audit.bulk import database_name, roles_supported, statements_run
from audit.roles import RoleNameError, app_role_sql


class Command(BaseCommand):
    help = ("Print (or, with --apply, run as the database owner) the GRANT/REVOKE statements "
            "for the application's PostgreSQL role: full use of the other tables, but only "
            "INSERT into the audit log and sealing of unsealed entries.")

    def add_arguments(self, parser):
        parser.add_argument("--role", required=True)
        parser.add_argument("--apply", action="store_true")

    def handle(self, *args, **options):
        if not roles_supported():
            raise CommandError("roles exist on PostgreSQL only; SQLite relies on its triggers")
        try:
            statements = app_role_sql(role=options["role"], database=database_name())
        except RoleNameError as exc:
            raise CommandError(str(exc)) from exc
        if not options["apply"]:
            self.stdout.write("\n".join(statements))
            return
        statements_run(statements)
        self.stdout.write(f"applied {len(statements)} statements for role {options['role']}")
