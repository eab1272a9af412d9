"""Writes of the settlement app (refunds; declarations, balance lists and statements)."""

from settlement.services.refunds import (
    RefundError,
    refund_case_confirm,
    refund_case_request,
)

__all__ = ["RefundError", "refund_case_confirm", "refund_case_request"]
