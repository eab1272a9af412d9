"""The merchant's (and user's) consent page, reached from the personal link in an SMS.

Plain HTML forms, POST-redirect-GET, CSRF, no JavaScript needed. The flow:

    GET  /c/<token>            the Art. 27 notice when the request has notice items (public:
                               no identity check to read it; its first showing is evidence
                               that the notice reached the subject), and the identity form
                               (business number; users: phone last four)
    POST /c/<token>            check -> the verified state goes into the session, bound to
                               this request, for VERIFIED_SECONDS
    GET  /c/<token>/notice     the Art. 17(2) notice, agree/decline per optional item, the
                               required items stated plainly (and the Art. 27 notice if any)
    POST /c/<token>/notice     the choices wait in the session -> confirm
    GET/POST /c/<token>/confirm          -> consent_answer -> the receipt
    GET  /c/<token>/status     the current decision: change, withdraw, object
    GET/POST /c/<token>/withdraw         -> consent_withdraw -> the receipt
    GET/POST /c/<token>/object           -> consent_object -> the receipt
    GET/POST /c/<token>/early            "지금 이전하기" -> consent_early_request -> the receipt
    GET/POST /c/<token>/early/withdraw   -> consent_early_withdraw -> the receipt
    GET  /c/<token>/receipt/<id>[.json]  the receipt page / the signed JSON download

Without a token (the way back in, consent/services/returning.py):

    GET/POST /c/               the mobile number -> a one-time code by SMS (same page for a
                               number we never asked)
    GET/POST /c/code           the code -> the session knows the number's subjects
    GET/POST /c/choose         one of their requests -> a fresh short-lived link (never
                               sent), verified in the session, to its status page; such a
                               link also serves a request whose answer period is over
                               (status, withdraw, object, early, receipts)
    GET  /c/receipt-key        the public key that signs receipts (JSON)

Every bad link — malformed, truncated, unknown, revoked, expired, request expired or
cancelled — gets the same page with the same status (404), so a visitor learns nothing about
whether a subject or a request exists. Views speak HTTP only; the rules are in the services.

One module per part of the flow, every view re-exported here (`consent.page_urls` reads
them from here):

- `links`: the resolved link (`_Visit`), `link_view`, the page response, the bad-link page,
  the identity check kept in the session;
- `page_cache`: the shared copies of the identity form and the notice (rendered once per
  process from plain values that are their own cache key, filled in per visit);
- `identity`: the first page of a link and what its first opening records;
- `answer`: the notice and the confirmation;
- `later`: status, withdrawal, objection, moving early, receipts;
- `tokenless`: the pages without a token (the way back in, the notice texts, the key).
"""

from consent.views.answer import confirm, notice
from consent.views.identity import landing
from consent.views.later import (
    early,
    early_withdraw,
    object_transfer,
    receipt,
    receipt_download,
    status,
    withdraw,
)
from consent.views.links import VERIFIED_SECONDS, _client_ip, _page, bad_link, link_view
from consent.views.tokenless import (
    notice_text,
    receipt_key,
    return_choose,
    return_code,
    return_start,
    text_size,
)

__all__ = [
    "VERIFIED_SECONDS", "_client_ip", "_page", "bad_link", "confirm", "early", "early_withdraw",
    "landing", "link_view", "notice", "notice_text", "object_transfer", "receipt",
    "receipt_download", "receipt_key", "return_choose", "return_code", "return_start",
    "status", "text_size", "withdraw",
]
