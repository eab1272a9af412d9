"""The public privacy page as it stands now (`privacy_page_current`), for receipts to name."""

from __future__ import annotations

import time

# --- The public privacy page ----------------------------------------------------------------


def privacy_page_current(*, max_age: float = 0):
    """The privacy page as it stands now: ``PrivacyPageRef(url, permalink, version,
    text_hash)`` (governance.privacy), for receipts to name the page they were issued
    under. Stores the next version when the plans or the catalogue changed what it says.

    Rendering it costs five queries and about 11 ms; ``max_age`` > 0 lets a caller that
    issues many receipts reuse this process's answer for that many seconds (as
    `consent.notices.notice_current` does), at the price of naming the previous version for
    up to that long after a plan or the catalogue changed."""
    from governance.privacy import privacy_page_ref, privacy_policy_current

    cached = _PRIVACY_PAGE.get("ref")
    if max_age > 0 and cached is not None and time.monotonic() - cached[0] < max_age:
        return cached[1]
    ref = privacy_page_ref(privacy_policy_current())
    _PRIVACY_PAGE["ref"] = (time.monotonic(), ref)
    return ref


# Process-local: the last answer of privacy_page_current and when it was rendered.
_PRIVACY_PAGE: dict = {}
