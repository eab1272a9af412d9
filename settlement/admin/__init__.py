"""The settlement admin: refund cases and the disposition of every won (`refunds`), each
party's totals and balance lists (`declarations`), the co-signed statements (`statements`).
Importing the modules registers their admins."""

from settlement.admin import declarations, refunds, statements  # noqa: F401 - registers
