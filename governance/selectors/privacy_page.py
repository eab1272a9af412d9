"""The public privacy page as it stands now (`privacy_page_current`), for receipts to name."""

from __future__ import annotations


def privacy_page_current():
    """The privacy page as it stands now: ``PrivacyPageRef(url, permalink, version,
    text_hash)`` (governance.privacy), for receipts to name the page they were issued
    under. Stores the next version when the plans or the catalogue changed what it says.

    Read afresh every time (five queries, about 11 ms): a receipt is issued once per answer,
    and must name the page as it stands at that moment."""
    from governance.privacy import privacy_page_ref, privacy_policy_current

    return privacy_page_ref(privacy_policy_current())
