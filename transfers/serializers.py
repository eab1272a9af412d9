"""Request bodies of the operator API, and the error body every refusal shares.

Every request serializer is strict: a key it does not know is refused (400 `invalid_request`)
rather than ignored, because an ignored `certificate_balnce_sum` would silently drop a
control total. The schema says so (`additionalProperties: false`, see transfers/schema.py).
"""

from __future__ import annotations

from rest_framework import serializers

from transfers.validation import MAX_INTEGER


class StrictSerializer(serializers.Serializer):
    """A serializer that refuses keys it does not declare."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {key: ["unknown key: not part of this request"] for key in unknown})
        return super().to_internal_value(data)


def _count(**kwargs) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=0, max_value=MAX_INTEGER, **kwargs)


class SubjectCountsSerializer(StrictSerializer):
    merchant = _count(required=False, help_text="merchants")
    user = _count(required=False, help_text="certificate users")


class DeclaredTotalsSerializer(StrictSerializer):
    subjects = SubjectCountsSerializer(required=False)
    certificate_balance_sum = _count(required=False, help_text="won")


class UploadTotalsInputSerializer(StrictSerializer):
    declared_totals = DeclaredTotalsSerializer(required=False)


class AcknowledgementInputSerializer(StrictSerializer):
    payload = serializers.CharField(max_length=1_000_000, help_text=(
        "base64 of the exact JSON bytes that were signed"))
    signature = serializers.CharField(max_length=200, help_text="base64 Ed25519 signature")


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField(help_text="a stable machine-readable code")
    detail = serializers.CharField(help_text="what was wrong, for a person to read")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), required=False,
        help_text="for `invalid_request`: the message(s) per field path")
