"""The consent screens of the admin, for privacy officers (Korean labels).

Every change goes through a service (guarded transitions, audit event in the same
transaction): campaigns are created, launched, paused, resumed and cancelled from here; the
review queue settles SMS replies; an officer records a consent taken by phone, or that the
Art. 27 notice was given by phone; failed messages are resent. Records, replies and messages
are read-only. No page shows a phone number or a link token (messages show their body with
the token masked); the export of subjects the notice could not reach includes numbers only
when an officer with the change permission asks, with a reason, audited.

The screens, one module each: `campaigns`, `requests` (the notice's reach, the notice by
phone, the unreached export), `records` (consent taken by phone), `sms` (messages, the
review queue, opt-outs). Importing the package registers them all.
"""

from consent.admin import campaigns, records, requests, sms  # noqa: F401  (registers)
