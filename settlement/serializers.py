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
