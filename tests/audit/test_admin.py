"""The read-only audit browser: the reviewer can look, nobody can change, looking is logged."""

from __future__ import annotations

from django.urls import reverse

from audit.models import AuditEvent, Checkpoint
from tests.staff import login_verified


def _viewed(user) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action="audit.viewed", actor_id=f"user:{user.pk}"))


def test_the_commission_reviewer_browses_the_trail_and_the_viewing_is_recorded(
        sealed_log, client, commission_reviewer):
    login_verified(client, commission_reviewer)
    response = client.get(reverse("admin:audit_auditevent_changelist"))
    assert response.status_code == 200
    assert "감사 이벤트" in response.content.decode()
    viewed = _viewed(commission_reviewer)
    assert len(viewed) == 1
    assert (viewed[0].actor_type, viewed[0].target_type) == ("officer", "audit.auditevent")

    event = AuditEvent.objects.get(seq=3)
    response = client.get(reverse("admin:audit_auditevent_change", args=[event.pk]))
    assert response.status_code == 200
    assert "plan.approved" in response.content.decode()
    assert [v.target_id for v in _viewed(commission_reviewer)] == ["changelist", str(event.pk)]


def test_filters_and_search_narrow_the_list(sealed_log, client, commission_reviewer):
    login_verified(client, commission_reviewer)
    url = reverse("admin:audit_auditevent_changelist")
    response = client.get(url, {"q": "7"})
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 1
    response = client.get(url, {"actor_type__exact": "subject"})
    assert len(response.context["cl"].result_list) == 0


def test_nobody_can_add_change_or_delete_entries_not_even_a_superuser(sealed_log, client,
                                                                       officer):
    login_verified(client, officer)
    event = AuditEvent.objects.get(seq=0)
    assert client.get(reverse("admin:audit_auditevent_add")).status_code == 403
    assert client.get(reverse("admin:audit_auditevent_delete", args=[event.pk])).status_code == 403
    response = client.post(reverse("admin:audit_auditevent_change", args=[event.pk]),
                           {"action": "plan.rejected"})
    assert response.status_code == 403
    assert AuditEvent.objects.get(pk=event.pk).action == "plan.approved"
    checkpoint = Checkpoint.objects.first()
    assert client.get(reverse("admin:audit_checkpoint_delete",
                              args=[checkpoint.pk])).status_code == 403
    changelist = client.get(reverse("admin:audit_auditevent_changelist"))
    assert "delete_selected" not in changelist.content.decode()
    response = client.post(reverse("admin:audit_auditevent_changelist"),
                           {"action": "delete_selected", "_selected_action": [event.pk]})
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_a_staff_member_without_the_reviewer_role_sees_nothing(sealed_log, client,
                                                               django_user_model):
    clerk = django_user_model.objects.create_user(username="clerk", password="pw-123456789",
                                                  is_staff=True)
    login_verified(client, clerk)
    assert client.get(reverse("admin:audit_auditevent_changelist")).status_code == 403
    assert not _viewed(clerk)


def test_a_superuser_cannot_change_or_delete_entries_either(sealed_log, client,
                                                            django_user_model):
    """The site administrator holds every permission, and still the trail only reads: the
    add, change and delete pages refuse her and the entry keeps what it recorded."""
    administrator = django_user_model.objects.create_superuser("site-admin",
                                                               password="x" * 16)
    login_verified(client, administrator)
    event = AuditEvent.objects.get(seq=0)

    added = client.get(reverse("admin:audit_auditevent_add"))
    changed = client.post(reverse("admin:audit_auditevent_change", args=[event.pk]),
                          {"action": "plan.rejected"})
    deleted = client.post(reverse("admin:audit_auditevent_delete", args=[event.pk]),
                          {"post": "yes"})

    assert (added.status_code, changed.status_code, deleted.status_code) == (403, 403, 403)
    assert AuditEvent.objects.get(pk=event.pk).action == "plan.approved"
    assert AuditEvent.objects.filter(seq__lt=12).count() == 12


def test_a_staff_member_without_a_role_opens_no_entry_and_no_checkpoint(sealed_log, client,
                                                                       clerk):
    """Choi logs in with both factors but holds neither role: an entry's page and the
    checkpoints are refused without showing what was recorded, and her looking is not
    recorded as viewing, since she saw nothing."""
    login_verified(client, clerk)
    event = AuditEvent.objects.get(seq=0)

    responses = [client.get(reverse("admin:audit_auditevent_change", args=[event.pk])),
                 client.get(reverse("admin:audit_checkpoint_changelist"))]

    for response in responses:
        assert response.status_code == 403
        assert "plan.approved" not in response.content.decode()
    assert not _viewed(clerk)
