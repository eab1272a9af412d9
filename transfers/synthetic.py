"""Synthetic Seoul records for the demo, the tests and the benchmarks (no real person).

Phones are in the unassigned 010-0000-xxxx range and business numbers are check-digit valid
(governance.seoul). Values look like what an operator sends, every field of the catalogue.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from governance.seoul import synthetic_brn, synthetic_phone


def merchant_row(i: int) -> dict[str, Any]:
    return {
        "kind": "merchant", "external_id": f"M-{i:07d}",
        "merchant.business_registration_number": synthetic_brn(i),
        "merchant.shop_name": f"서울가게 {i}",
        "merchant.representative_name": f"대표자{i}",
        "merchant.representative_phone": synthetic_phone(i),
        "merchant.address": f"서울특별시 중구 세종대로 {i % 300 + 1}",
        "merchant.business_type": ("음식점", "소매", "서비스")[i % 3],
        "merchant.qr_merchant_id": f"SQ{i:010d}",
        "merchant.fee_tier": ("A", "B", "C")[i % 3],
        "merchant.settlement_history": [{"month": "2026-10", "amount": (i * 7919) % 9_000_000}],
        "merchant.settlement_bank_account": f"088-{i % 1000:03d}-{i:06d}",
        "merchant.email": f"shop{i}@example.com",
        "merchant.marketing_opt_in": "Y" if i % 2 else "N",
        "merchant.internal_risk_score": i % 5,
    }


def user_row(i: int) -> dict[str, Any]:
    return {
        "kind": "user", "external_id": f"U-{i:07d}",
        "user.phone": synthetic_phone(i),
        "user.name": f"이용자{i}",
        "user.certificate_balance": (i * 1_000) % 500_000,
        "user.issuance_records": [{"date": "2026-09-01", "amount": 100_000}],
        "user.purchase_history": [{"date": "2026-10-02", "merchant": f"M-{i % 1000:07d}"}],
        "user.refund_account": f"110-{i % 1000:03d}-{i:06d}",
        "user.device_id": f"dev-{i:08x}",
    }


def rows(kind: str, start: int, count: int) -> Iterator[dict[str, Any]]:
    make = merchant_row if kind == "merchant" else user_row
    for i in range(start, start + count):
        yield make(i)
