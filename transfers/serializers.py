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


# --- Answers of the operator API (one serializer per response body) --------------------------
#
# Views shape every answer with one of these, so the OpenAPI schema types each field and a
# generated client needs no cast. Nested parts are named serializers of their own: each is a
# component of the schema, with the same name in every generated client.


class ServiceKeySerializer(serializers.Serializer):
    algorithm = serializers.ChoiceField(choices=["Ed25519"])
    key_id = serializers.CharField(help_text="first 16 hex digits of SHA-256 of the raw key")
    public_key = serializers.CharField(help_text="raw 32-byte Ed25519 public key, base64")


class PlanFieldSerializer(serializers.Serializer):
    key = serializers.CharField(help_text='the field key rows and releases use, e.g. '
                                          '"merchant.shop_name"')
    label = serializers.CharField(help_text="its Korean name")
    data_type = serializers.CharField(help_text="how an uploaded value is checked (string, "
                                                "phone, brn, integer, json, ...)")
    basis = serializers.CharField(help_text="the legal basis the plan gives it")


class PlanFieldsSerializer(serializers.Serializer):
    merchant = PlanFieldSerializer(many=True, help_text="fields of a merchant row")
    user = PlanFieldSerializer(many=True, help_text="fields of a user row")


class PlanSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    lineage = serializers.UUIDField(help_text="the same for every version of the plan")
    version = serializers.IntegerField()
    title = serializers.CharField()
    status = serializers.CharField(help_text="approved, active, closed, ... (never a draft)")
    rehearsal = serializers.BooleanField(help_text="a rehearsal plan moves nothing")
    from_operator = serializers.CharField(help_text="the source operator's code")
    to = serializers.CharField(help_text="the recipient operator's code")
    role = serializers.ChoiceField(choices=["source", "recipient"],
                                   help_text="what the calling operator is in this plan")
    cutover_at = serializers.DateTimeField(allow_null=True)
    fields = PlanFieldsSerializer(help_text="the upload schema: fields per subject kind")

    def get_fields(self):
        fields = super().get_fields()
        # "from" is a Python keyword: the attribute is from_operator, the key "from".
        fields["from"] = fields.pop("from_operator")
        return fields


class PlanListSerializer(serializers.Serializer):
    plans = PlanSerializer(many=True)


class SubjectCountsOutputSerializer(serializers.Serializer):
    merchant = serializers.IntegerField(required=False)
    user = serializers.IntegerField(required=False)


class DeclaredTotalsOutputSerializer(serializers.Serializer):
    subjects = SubjectCountsOutputSerializer(required=False)
    certificate_balance_sum = serializers.IntegerField(required=False, help_text="won")


class AcceptedTotalsSerializer(serializers.Serializer):
    records = serializers.IntegerField()
    subjects = SubjectCountsOutputSerializer()
    fields = serializers.DictField(child=serializers.IntegerField(),
                                   help_text="accepted rows per field key")
    certificate_balance_sum = serializers.IntegerField(help_text="won")
    rejected_rows = serializers.IntegerField()


class TotalsMismatchSerializer(serializers.Serializer):
    metric = serializers.CharField(help_text='"subjects.merchant", "certificate_balance_sum"')
    declared = serializers.IntegerField()
    accepted = serializers.IntegerField()


class UploadSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    plan = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["open", "complete"])
    accepted = serializers.IntegerField(help_text="rows accepted so far")
    rejected = serializers.IntegerField(help_text="rows rejected so far")
    declared_totals = DeclaredTotalsOutputSerializer()
    accepted_totals = AcceptedTotalsSerializer()
    totals_match = serializers.BooleanField(help_text="declared totals given and all equal")
    mismatches = TotalsMismatchSerializer(many=True)
    batches = serializers.ListField(child=serializers.CharField(), help_text="batch ids")


class RejectionSerializer(serializers.Serializer):
    line = serializers.IntegerField(help_text="1-based line of the body (CSV: after the header)")
    field = serializers.CharField(allow_null=True, help_text="the field key, or null for the "
                                                             "whole row")
    code = serializers.CharField(help_text="invalid_phone, duplicate_in_batch, qr_id_taken, ...")
    message = serializers.CharField(help_text="never the rejected value")


class BatchReportSerializer(serializers.Serializer):
    batch_id = serializers.CharField()
    sha256 = serializers.CharField(help_text="of the body as received")
    lines = serializers.IntegerField()
    accepted = serializers.IntegerField()
    rejected = serializers.IntegerField()
    rejections = RejectionSerializer(many=True)
    corrected = serializers.IntegerField(help_text=(
        "accepted rows that answer an open correction request (they replace the record the "
        "recipient could not apply)"))
    replayed = serializers.BooleanField(help_text="true: this batch id was received before; "
                                                  "this is its first report")


class ReleaseLinksSerializer(serializers.Serializer):
    """Absolute URLs; present once the release is ready."""

    manifest = serializers.URLField(required=False)
    signature = serializers.URLField(required=False)
    chunks = serializers.ListField(child=serializers.URLField(), required=False,
                                   help_text="one per chunk, in order (chunks/{n})")
    records = serializers.URLField(required=False)
    acknowledgements = serializers.URLField(required=False)
    apply_reports = serializers.URLField(required=False)


class AcknowledgementMismatchSerializer(serializers.Serializer):
    metric = serializers.CharField()
    released = serializers.IntegerField(allow_null=True)
    acknowledged = serializers.IntegerField(allow_null=True)


class AcknowledgedSerializer(serializers.Serializer):
    matches = serializers.BooleanField()
    mismatches = AcknowledgementMismatchSerializer(many=True)
    received_at = serializers.DateTimeField()


class ReleaseSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    plan = serializers.IntegerField()
    number = serializers.IntegerField(help_text="1, 2, ... per plan")
    status = serializers.ChoiceField(choices=["pending", "ready", "failed"])
    rehearsal = serializers.BooleanField()
    as_of = serializers.DateTimeField(help_text="the moment the policy was applied")
    records = serializers.IntegerField()
    chunks = serializers.IntegerField()
    manifest_sha256 = serializers.CharField(help_text="hex; empty until ready")
    recipient_key_id = serializers.CharField()
    suite = serializers.ChoiceField(
        choices=["x25519", "mlkem768_x25519"],
        help_text="the HPKE KEM the chunks are encrypted with (the recipient key's kind)")
    links = ReleaseLinksSerializer()
    acknowledged = AcknowledgedSerializer(allow_null=True,
                                          help_text="the latest acknowledgement, or null")


class ReleaseListSerializer(serializers.Serializer):
    releases = ReleaseSerializer(many=True)


class ReleaseRecordSerializer(serializers.Serializer):
    subject = serializers.CharField(help_text="the service's pseudonymous subject id")
    kind = serializers.ChoiceField(choices=["merchant", "user"])
    external_id = serializers.CharField(help_text="the source operator's id of the subject")
    fields = serializers.DictField(child=serializers.JSONField(), help_text=(
        "the released fields: field key -> value (string, integer or JSON as the plan's "
        "data type says)"))


class ReleaseRecordsPageSerializer(serializers.Serializer):
    release = serializers.UUIDField()
    records = ReleaseRecordSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True, help_text="pass as `cursor`; null "
                                                                   "after the last page")
    withheld = serializers.IntegerField(help_text="fields withheld on this page: denied "
                                                  "since the release was built")


class AcknowledgementOutputSerializer(serializers.Serializer):
    acknowledgement = serializers.IntegerField(source="pk")
    matches = serializers.BooleanField()
    mismatches = AcknowledgementMismatchSerializer(many=True)


class DeletionNoticeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    subject = serializers.CharField(source="subject.public_id")
    kind = serializers.CharField(source="subject.kind")
    external_id = serializers.CharField(source="subject.external_id")
    fields = serializers.ListField(child=serializers.CharField(),
                                   help_text="the released fields to delete")
    reason = serializers.ChoiceField(choices=["withdrawn", "objected", "denied"])
    created_at = serializers.DateTimeField()
    confirmed_at = serializers.DateTimeField(allow_null=True)


class DeletionFeedSerializer(serializers.Serializer):
    deletions = DeletionNoticeSerializer(many=True)


class DeletionConfirmedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    confirmed_at = serializers.DateTimeField()


class ManifestReleaseSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    number = serializers.IntegerField()
    as_of = serializers.CharField(help_text="ISO 8601, UTC, with a Z")
    incremental = serializers.BooleanField()


class ManifestPlanSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    lineage = serializers.UUIDField()
    version = serializers.IntegerField()
    title = serializers.CharField()
    from_operator = serializers.CharField()
    to = serializers.CharField()

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = fields.pop("from_operator")
        return fields


class ManifestRecipientSerializer(serializers.Serializer):
    operator = serializers.CharField()
    key_id = serializers.CharField()


class ManifestSuiteSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=["base"])
    kem = serializers.CharField(help_text='"DHKEM(X25519, HKDF-SHA256)" or "MLKEM768-X25519"')
    kem_id = serializers.IntegerField(help_text="RFC 9180 / IANA HPKE KEM id (0x0020, 0x647a)")
    kdf = serializers.CharField()
    kdf_id = serializers.IntegerField()
    aead = serializers.CharField()
    aead_id = serializers.IntegerField()
    layout = serializers.CharField(help_text="enc (N bytes) || ciphertext")
    enc_length = serializers.IntegerField(required=False, help_text="N, the length of enc")


class ManifestChunkSerializer(serializers.Serializer):
    file = serializers.CharField(help_text='"chunks/000001.bin"; also served as chunks/{n}')
    info = serializers.CharField(help_text="base64 of the chunk's HPKE info (ASCII)")
    records = serializers.IntegerField()
    bytes = serializers.IntegerField()
    sha256 = serializers.CharField(help_text="hex of the whole file")


class ManifestControlTotalsSerializer(serializers.Serializer):
    records = serializers.IntegerField()
    subjects = serializers.DictField(child=serializers.IntegerField())
    certificate_balance_sum = serializers.IntegerField()
    source_accepted_balance_sum = serializers.IntegerField()


class ManifestSerializer(serializers.Serializer):
    """Documentation of manifest.json (docs/release-format.md). Verify `manifest.sig` over the
    bytes received, never over a re-serialisation of this object."""

    format = serializers.CharField()
    release = ManifestReleaseSerializer()
    rehearsal = serializers.BooleanField()
    stamp = serializers.CharField(required=False, help_text='"REHEARSAL" on a rehearsal')
    plan = ManifestPlanSerializer()
    recipient = ManifestRecipientSerializer()
    suite = ManifestSuiteSerializer()
    signing_key_id = serializers.CharField()
    audit_checkpoint = serializers.JSONField(allow_null=True, help_text=(
        "the witnessed audit checkpoint when the release was made (docs/audit.md)"))
    chunks = ManifestChunkSerializer(many=True)
    counts = serializers.DictField(child=serializers.JSONField(), help_text=(
        "records, subjects, fields, denied, denied_by_field, first_time"))
    control_totals = ManifestControlTotalsSerializer()


# --- Apply reports and corrections (issue 18, part 4) -----------------------------------------


class ApplyReportInputSerializer(StrictSerializer):
    payload = _signed_payload(4_000_000, (
        "base64 of the exact JSON bytes that were signed: `{release, manifest_sha256, nonce, "
        "signed_at, records: [{subject, reason, text}, ...]}`"))
    signature = _signature()


class ApplyReportOutputSerializer(serializers.Serializer):
    report = serializers.IntegerField(source="pk", help_text="the stored apply report")
    release = serializers.UUIDField(source="release.public_id")
    records = serializers.IntegerField(source="record_count",
                                       help_text="records listed as not applied")
    reasons = serializers.DictField(source="reason_counts", child=serializers.IntegerField(),
                                    help_text="records per reason code")
    corrections_opened = serializers.IntegerField(help_text=(
        "correction requests opened (a record already awaiting correction is not opened "
        "again)"))


CORRECTION_REASONS = ["qr_unknown", "qr_duplicate", "account_invalid", "phone_unreachable",
                      "other"]


class CorrectionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    subject = serializers.CharField(source="subject.public_id",
                                    help_text="the subject's public id")
    kind = serializers.ChoiceField(source="subject.kind", choices=["merchant", "user"])
    external_id = serializers.CharField(source="subject.external_id",
                                        help_text="your id of the subject: upload its "
                                                  "corrected row under it")
    reason = serializers.ChoiceField(choices=CORRECTION_REASONS)
    text = serializers.CharField(allow_blank=True, help_text="the recipient's words "
                                                             "(for `other`)")
    status = serializers.ChoiceField(choices=["open", "corrected", "carried"])
    release = serializers.UUIDField(source="release.public_id",
                                    help_text="the release the recipient could not apply")
    created_at = serializers.DateTimeField()
    corrected_at = serializers.DateTimeField(allow_null=True)


class CorrectionPageSerializer(serializers.Serializer):
    plan = serializers.IntegerField()
    corrections = CorrectionSerializer(many=True)
    next_after = serializers.IntegerField(allow_null=True, help_text=(
        "pass as `after` for the next page; null when this page was the last"))
