"""The Seoul move, rehearsed end to end through the real interfaces.

Officers act through the same services the admin calls; everybody else goes over HTTP: the
outgoing operator (KEPF) uploads with its OAuth2 client, the SMS go out through the real
Twilio SDK to the local stand-in, merchants and users open their links and answer on the real
pages, and the incoming operator (Shinhan) pulls, verifies, decrypts and acknowledges with the
reference client. The story, in order:

1. scenario    the demo data; a fresh dispute over representative name and phone, referred to
               the commission; an approved KEPF -> Shinhan plan (marked a rehearsal) using
               every legal basis
2. upload      KEPF uploads every record (a few planted errors, then corrected)
3. campaigns   merchants asked for consent by SMS
4. answers     merchants agree, agree to the required item only, decline, or never answer
5. notices     the Art. 27 notice: most users by an LMS that carries it (a share of handsets
               cannot be reached: the stand-in answers `undelivered`), the rest told in
               KEPF's app, which KEPF attests through the API with the reference client
6. users       some users open the notice and ask to move now ("지금 이전하기"), a few
               object; the unreached cannot do either
6b. refunds    half the objectors ask for their balance back; KEPF confirms half, signed
7. release 1   what may move now: merchants' non-disputed fields, the early movers (users
               whose notice period still runs stay back, the disputed fields wait)
8. ruling      the commission rules half way: the disputed fields follow the plan again
9. changes     some merchants withdraw after their data moved; Shinhan confirms deletion
10. release 2  the bulk release at cut-over, once every reached user's notice period has run:
               what became releasable since (never the unreached, never the objectors)
10b. corrections Shinhan reports, signed, a few hundred merchants it could not apply; KEPF
               corrects them through the normal upload; release 3 carries them again
11a. totals    KEPF, its subcontractor, the city and Shinhan declare their totals, signed;
               the subcontractor's per-user list disagrees with KEPF on a few hundred users
11b. every won the accepted balance split into moved, refunded, refund requested and held
               by reason, nothing unaccounted
11c. statement the settlement statement, co-signed by every party
11. reconcile  declared, accepted, released and acknowledged totals side by side
12. audit      the trail sealed, verified, exported and verified again by the bundle's own
               standalone verifier

The rehearsal plays weeks in minutes: its plan is marked a rehearsal (its releases are stamped
so and never reach a register) with a notice period of one day, and a rehearsal day lasts
``Options.day_seconds`` (``REHEARSAL_DAY_SECONDS``). Each user's period runs from that user's
own evidence, as in a real plan.

Where each part lives: `context` (options, the cast, the shared context), `scenario` (1, 2),
`sms` (the stand-in and campaigns), `merchants` (3, 4, 9), `users` (5, 6), `money` (6b, 11a
to 11c), `releases` (7, 8, 10), `corrections` (10b), `closing` (11, 12).
"""

from __future__ import annotations

from operations.rehearsal import closing, corrections, merchants, money, releases, scenario, users
from operations.rehearsal.context import Cast, Context, Options
from operations.rehearsal.merchants import cast_draw
from operations.rehearsal.sms import sms_through_standin

__all__ = ["STAGES", "Cast", "Context", "Options", "cast_draw", "sms_through_standin"]

_cast = cast_draw  # the name tests/e2e/test_rehearse.py imports

STAGES = (scenario.stage_scenario, scenario.stage_upload, merchants.stage_campaigns,
          merchants.stage_answers, users.stage_notices, users.stage_users,
          money.stage_refunds, releases.stage_release_early, releases.stage_ruling,
          merchants.stage_changes, releases.stage_release_bulk, corrections.stage_corrections,
          money.stage_party_totals, money.stage_disposition, money.stage_statement,
          closing.stage_reconcile, closing.stage_audit)
