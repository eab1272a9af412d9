"""Request and response bodies of the settlement endpoints of the operator API. Requests are
strict (`transfers.serializers.StrictSerializer`): an unknown key is refused, not ignored."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from transfers.serializers import BASE64, ED25519_SIGNATURE_BASE64, StrictSerializer


class SignedInputSerializer(StrictSerializer):
    """A signed submission: the exact JSON bytes and the Ed25519 signature over them."""

    payload = serializers.RegexField(BASE64, max_length=1_000_000, help_text=(
        "base64 of the exact JSON bytes that were signed"),
        error_messages={"invalid": "not valid base64"})
    signature = serializers.RegexField(
        ED25519_SIGNATURE_BASE64, help_text="base64 of the 64-byte Ed25519 signature by the "
        "operator's registered signature key",
        error_messages={"invalid": "not the base64 of a 64-byte Ed25519 signature"})


class RefundCaseSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id", help_text="the case (sign it as `case`)")
    subject = serializers.CharField(source="subject.public_id",
                                    help_text="the subject's public id")
    external_id = serializers.CharField(source="subject.external_id",
                                        help_text="the operator's own id of the user")
    amount = serializers.IntegerField(help_text="won: the balance of the accepted record")
    status = serializers.ChoiceField(choices=["requested", "refunded"])
    channel = serializers.ChoiceField(choices=["web", "phone"])
    requested_at = serializers.DateTimeField()
    refunded_at = serializers.DateTimeField(allow_null=True)
    reference = serializers.CharField(help_text="the operator's own reference ('' until "
                                                "confirmed)")


class RefundPageSerializer(serializers.Serializer):
    plan = serializers.IntegerField()
    refunds = RefundCaseSerializer(many=True)
    next_after = serializers.IntegerField(allow_null=True, help_text=(
        "pass as `after` for the next page; null when this page was the last"))


class AmountSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="users")
    won = serializers.IntegerField(help_text="won")


class BalanceDetailSerializer(serializers.Serializer):
    accepted = AmountSerializer()
    moved = AmountSerializer()
    refund_requested = AmountSerializer()
    refunded = AmountSerializer()
    held = serializers.DictField(child=AmountSerializer(), help_text="reason -> amount")
    unaccounted = AmountSerializer()


class BalanceSerializer(serializers.Serializer):
    accepted = serializers.IntegerField(help_text="won accepted from the source's upload")
    moved = serializers.IntegerField(help_text="won the releases carried")
    refund_requested = serializers.IntegerField(help_text="won in open refund cases")
    refunded = serializers.IntegerField(help_text="won the source confirmed refunded")
    held = serializers.DictField(child=serializers.IntegerField(), help_text=(
        "reason -> won held back: objected_without_refund, not_notified, notice_period, "
        "consent_pending, releasable_not_released, no_balance, ..."))
    unaccounted = serializers.IntegerField(help_text="accepted minus all the above: 0 when "
                                                     "every won is accounted for")
    detail = BalanceDetailSerializer(help_text="each with its count of users")


class ReleaseBalanceSerializer(serializers.Serializer):
    release = serializers.UUIDField()
    number = serializers.IntegerField()
    rehearsal = serializers.BooleanField()
    released = AmountSerializer(help_text="users and won in the release's manifest")
    acknowledged = AmountSerializer(allow_null=True, help_text="the recipient's signed totals "
                                                               "(null: not acknowledged)")
    difference = serializers.IntegerField(allow_null=True, help_text="released - acknowledged")
    state = serializers.ChoiceField(choices=["matches", "differs", "unacknowledged"])


class DispositionSerializer(serializers.Serializer):
    plan = serializers.IntegerField(source="plan_id")
    as_of = serializers.DateTimeField()
    clean = serializers.BooleanField(help_text="every won accounted for, nothing differs")
    balance = serializers.SerializerMethodField()
    releases = ReleaseBalanceSerializer(many=True)
    problems = serializers.ListField(child=serializers.CharField())

    @extend_schema_field(BalanceSerializer)
    def get_balance(self, obj) -> dict:
        return BalanceSerializer(obj.balance_json()).data


class PartySerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=["source", "subcontractor", "city", "recipient"])
    operator = serializers.CharField(help_text="the declaring operator's code")
    as_of = serializers.DateField()
    received_at = serializers.DateTimeField()
    key_id = serializers.CharField(help_text="the key that signed it")


class DeclarationRowSerializer(serializers.Serializer):
    metric = serializers.CharField(help_text="subjects.merchant, subjects.user, "
                                             "certificate_balance_sum, issuance_fee_sum")
    accepted = serializers.IntegerField(allow_null=True, help_text=(
        "what the service accepted (null for fees: the records hold none)"))
    label = serializers.CharField(help_text="the metric's name in Korean")
    moved = serializers.IntegerField(allow_null=True, help_text=(
        "what the releases moved to the recipient (null for fees, or when the recipient "
        "has not declared)"))
    values = serializers.DictField(child=serializers.IntegerField(allow_null=True),
                                   help_text="role -> declared")
    references = serializers.DictField(
        child=serializers.IntegerField(allow_null=True),
        help_text="role -> the figure its declaration is set against: the accepted one (fees: "
                  "the source's declared fee); for the recipient, what the releases moved")
    differences = serializers.DictField(child=serializers.IntegerField(allow_null=True),
                                        help_text="role -> declared minus its reference")
    agree = serializers.BooleanField()


class DeclarationsSerializer(serializers.Serializer):
    plan = serializers.IntegerField()
    parties = PartySerializer(many=True)
    rows = DeclarationRowSerializer(many=True)
    agree = serializers.BooleanField(help_text="every party agrees on every metric")


class DeclarationOutputSerializer(serializers.Serializer):
    declaration = serializers.IntegerField(source="pk")
    role = serializers.CharField()
    as_of = serializers.DateField()
    subjects = serializers.DictField(child=serializers.IntegerField())
    certificate_balance_sum = serializers.IntegerField(source="balance_sum")
    issuance_fee_sum = serializers.IntegerField(source="fee_sum")


class BalanceListSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    role = serializers.CharField()
    operator = serializers.CharField(source="operator.code")
    as_of = serializers.DateField()
    lines = serializers.IntegerField(source="line_count")
    sha256 = serializers.CharField(source="body_sha256")
    status = serializers.ChoiceField(choices=["awaiting_body", "compared"])
    compared_at = serializers.DateTimeField(allow_null=True)
    summary = serializers.DictField(child=serializers.IntegerField(), help_text=(
        "matching, differing, only_accepted, only_listed, difference_sum (listed - accepted "
        "over the differing), listed_lines, listed_balance_sum, listed_fee_sum"))


class BalanceListsSerializer(serializers.Serializer):
    plan = serializers.IntegerField()
    lists = BalanceListSerializer(many=True)


class DifferenceSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["differs", "only_accepted", "only_listed"])
    external_id = serializers.CharField()
    subject = serializers.CharField(source="subject.public_id", allow_null=True,
                                    default=None, help_text="null: only in the list")
    accepted_balance = serializers.IntegerField(allow_null=True)
    listed_balance = serializers.IntegerField(allow_null=True)
    listed_fee = serializers.IntegerField(allow_null=True)


class DifferencesPageSerializer(serializers.Serializer):
    list = serializers.UUIDField()
    differences = DifferenceSerializer(many=True)
    next_after = serializers.IntegerField(allow_null=True)


class StatementSignatureSerializer(serializers.Serializer):
    role = serializers.CharField()
    operator = serializers.CharField(source="operator.code")
    key_id = serializers.CharField(source="key.key_id")
    signed_at = serializers.DateTimeField()


class StatementSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="statement.public_id")
    sha256 = serializers.CharField(source="statement.sha256",
                                   help_text="hex of the exact bytes in `content_base64`")
    created_at = serializers.DateTimeField(source="statement.created_at")
    content_base64 = serializers.CharField(help_text="the exact statement bytes (JSON)")
    signatures = StatementSignatureSerializer(many=True)
    awaiting = serializers.ListField(child=serializers.CharField(),
                                     help_text="roles of the plan that have not signed yet")
