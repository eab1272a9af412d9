"""Writes of the settlement app: refunds, declarations, balance lists (and statements)."""

from settlement.services.balance_lists import (
    balance_list_announce,
    balance_list_body_receive,
)
from settlement.services.declarations import declaration_receive
from settlement.services.parties import plan_parties, plans_declarable_by, roles_of
from settlement.services.refunds import (
    RefundError,
    refund_case_confirm,
    refund_case_request,
)
from settlement.services.statements import statement_create, statement_sign

__all__ = ["RefundError", "balance_list_announce", "balance_list_body_receive",
           "declaration_receive", "plan_parties", "plans_declarable_by",
           "refund_case_confirm", "refund_case_request", "roles_of", "statement_create",
           "statement_sign"]
