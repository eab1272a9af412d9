"""Sending SMS exactly once, in paced batches: a package, one module per step.

The life of one message (``SmsMessage.status``)::

    queued --claim--> sending --provider accepted--> submitted -> sent -> delivered
                         |  \\--429 (after retries)--> queued (later; nothing was sent)
                         |   \\--4xx--> failed
                         \\--5xx / timeout / worker killed--> unknown --settle--> submitted | queued

1. **Claim** (one transaction, committed before any provider call): the batch's rows are
   locked with ``SELECT ... FOR UPDATE SKIP LOCKED`` and moved ``queued -> sending`` with the
   attempt counted, a fresh link issued (its token hash stored, the token kept only in memory)
   and the redacted body recorded. Two workers never claim the same row, and a row that was
   claimed is never claimed again by the normal path.
2. **Send**, paced to the campaign's rate cap and the provider's rate (a token bucket shared
   by the batch's threads). A 429 is retried with exponential backoff; nothing else is retried.
3. **Record** each outcome with a conditional UPDATE (only a row still ``sending`` changes, so
   a status callback that arrived first is never overwritten). Those UPDATEs are
   `consent.bulk`'s guarded statements.

**Settling what we never heard** (`sms_settle`): a row left ``sending`` past the claim lease
(the worker died) or ``unknown`` (5xx, timeout) is looked up at the provider: it lists the
messages sent to that number since the claim and compares the SHA-256 of the token in each
body with the hash of the link this row carried (``SmsMessage.link``) — our own idempotency
reference, since Twilio keeps no client reference. Found: ``submitted`` with its sid. Not
found, and the claim is older than the lease (so no request of ours can still be in flight):
back to ``queued`` — sent again, once, with a new link. The status callback (whose URL
carries our message id) settles it as well, whichever comes first. If the provider cannot be
asked, the row stays ``unknown`` and shows in the admin.

One sending loop per campaign runs at a time (a lease on the campaign row), so the rate cap
holds however many workers there are. Quiet hours (Asia/Seoul) are checked before each claim:
messages wait, they are not dropped.

**The Art. 27 notice by LMS.** A campaign that carries the notice (`Campaign.carries_notice`)
sends the notice itself (`sms_text.notice_body`) and stores with each message the hash of the
notice version it summarises. When the provider reports such a message ``delivered`` (the
status callback; the console provider in its answer), the delivery is notice evidence for
that subject (`governance.services.notice_evidence_record`, channel ``lms``, dated when the
delivery was reported), in the same transaction. A notice that failed or was undelivered is
tried again as the campaign's next reminder (`consent.services.lifecycle`).

The modules, in the order a message meets them (import from the package; its names are
re-exported here): `claim` (quiet hours, what each SMS says, `sms_claim`), `loop` (pacing,
recording outcomes, the campaign's sending loop `campaign_send_run`), `callbacks`
(`sms_status_update`, notice evidence), `settle` (`sms_settle`, `sms_resend_failed`), and
`common` (the lease, the request-side marks, `sending_kick`).
"""

from consent.services.sending.callbacks import sms_status_update
from consent.services.sending.claim import (
    Claimed,
    campaign_consent_facts,
    campaign_longest_sms,
    notice_facts,
    quiet_until,
    sms_claim,
)
from consent.services.sending.common import (
    NO_MORE_SMS,
    SMS_ACTOR,
    claim_lease,
    sending_kick,
    status_callback_url,
)
from consent.services.sending.loop import (
    RETRY_429,
    RunResult,
    campaign_send_run,
    campaigns_due,
    sending_kick_due,
)
from consent.services.sending.settle import sms_resend_failed, sms_settle

__all__ = [
    "NO_MORE_SMS", "RETRY_429", "SMS_ACTOR", "Claimed", "RunResult", "campaign_consent_facts",
    "campaign_longest_sms", "campaign_send_run", "campaigns_due", "claim_lease",
    "notice_facts", "quiet_until", "sending_kick", "sending_kick_due", "sms_claim",
    "sms_resend_failed", "sms_settle", "sms_status_update", "status_callback_url",
]
