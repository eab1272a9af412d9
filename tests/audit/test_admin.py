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
    assert (viewed[0].actor_type, viewed[0].target_type) == ("officer", "audit_log")

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
