"""Writes of the consent app, one module per area; import from the module itself:

- `consent.services.decisions`: what a subject says (answer, withdraw, object) -> ConsentRecord
- `consent.services.identity`: the business-registration-number check, lockout
- `consent.services.campaigns`: campaigns and their requests (create, launch, pause, ...)
- `consent.services.sending`: claiming and sending SMS exactly once
- `consent.services.replies`: inbound SMS replies and the review queue
"""
