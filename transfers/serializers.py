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


# Standard base64 (RFC 4648 section 4, padded), and an Ed25519 signature (64 bytes) in it:
# the schema states them, so a generated client (and schemathesis) sends only what decodes.
BASE64 = (r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{3}=|"
          r"[A-Za-z0-9+/]{2}==)$")
ED25519_SIGNATURE_BASE64 = r"^[A-Za-z0-9+/]{85}[AQgw]==$"


def _signed_payload(max_length: int, help_text: str) -> serializers.RegexField:
    return serializers.RegexField(BASE64, max_length=max_length, help_text=help_text,
                                  error_messages={"invalid": "not valid base64"})


def _signature() -> serializers.RegexField:
    return serializers.RegexField(
        ED25519_SIGNATURE_BASE64, help_text="base64 of the 64-byte Ed25519 signature by the "
        "operator's registered signature key",
        error_messages={"invalid": "not the base64 of a 64-byte Ed25519 signature"})


class AcknowledgementInputSerializer(StrictSerializer):
    payload = _signed_payload(1_000_000, "base64 of the exact JSON bytes that were signed")
    signature = _signature()


class NoticeAttestationInputSerializer(StrictSerializer):
    payload = _signed_payload(4_000_000, (
        "base64 of the exact JSON bytes that were signed: `{plan, nonce, signed_at, "
        "attestations: [{external_id, channel, notified_at}, ...]}`"))
    signature = _signature()


class NoticeAttestationOutputSerializer(serializers.Serializer):
    attestation = serializers.IntegerField(source="pk", help_text="the stored attestation")
    plan = serializers.IntegerField(source="plan_id")
    lines = serializers.IntegerField(source="line_count", help_text="lines accepted")
    subjects = serializers.IntegerField(source="subject_count",
                                        help_text="distinct subjects they name")
    channels = serializers.DictField(source="channel_counts", child=serializers.IntegerField(),
                                     help_text='lines per channel: {"in_app": n, "post": n}')


class UnreachedSubjectSerializer(serializers.Serializer):
    external_id = serializers.CharField(help_text="the operator's own id of the subject")
    subject = serializers.CharField(source="public_id", help_text=(
        "the subject's public id (as in releases and the deletion feed)"))
    kind = serializers.CharField(help_text="merchant or user")


class UnreachedPageSerializer(serializers.Serializer):
    plan = serializers.IntegerField()
    subjects = UnreachedSubjectSerializer(many=True)
    next_after = serializers.IntegerField(allow_null=True, help_text=(
        "pass as `after` for the next page; null when this page was the last"))


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField(help_text="a stable machine-readable code")
    detail = serializers.CharField(help_text="what was wrong, for a person to read")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), required=False,
        help_text="for `invalid_request`: the message(s) per field path")
