"""Writes of the consent app, one module per area; import from the module itself:

- `consent.services.decisions`: what a subject says (answer, withdraw, object) -> ConsentRecord
- `consent.services.identity`: the business-registration-number check, lockout
- `consent.services.campaigns`: campaigns and their requests (create, launch, pause, ...)
- `consent.services.sending`: claiming and sending SMS exactly once (a package, a module per step)
- `consent.services.lifecycle`: reminders and expiry, the periodic tick
- `consent.services.returning`: the way back in by a one-time code
- `consent.services.replies`: inbound SMS replies and the review queue
"""
