"""The history of staff accounts and their permissions, as audit events (`staff.*`).

This is the one place where signals are right: staff accounts, groups and permissions are
changed by Django's own admin forms (the user and group pages, their many-to-many widgets),
by `createsuperuser`, `changepassword` and the shell, none of which call a service of
ours. `post_save` and `m2m_changed` are the only hooks all of them pass through. A second
factor removed (the admin's OTP pages, or replaced by a new enrolment) is recorded too.
Each event says who (the request's account, or system:console outside a request), to whom
(the account or group: target ``auth.user`` or ``auth.group`` and its id), what (flags,
groups and permissions added or removed) and when (the event's time), and is written in the
same transaction as the change.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.services import audit_event
from officers.middleware import current_actor

_FLAGS = ("is_active", "is_staff", "is_superuser")
_paused: ContextVar[bool] = ContextVar("permission_history_paused", default=False)


@contextmanager
def permission_history_paused():
    """For config.roles, which re-applies the groups the code defines after each migrate."""
    token = _paused.set(True)
    try:
        yield
    finally:
        _paused.reset(token)


def staff_event(action: str, *, target, details: dict) -> None:
    """Record ``action`` on ``target`` (an account or group, or an ``(<app>.<noun>, id)``
    pair) by the request's account, or ``system:console`` outside a request."""
    by = current_actor.get() or ("system", "system:console")
    audit_event(by=by, action=action, target=target, details=details)


def _perm_names(pks) -> list[str]:
    return sorted(f"{app}.{code}" for app, code in Permission.objects.filter(
        pk__in=pks).values_list("content_type__app_label", "codename"))


def _group_names(pks) -> list[str]:
    return sorted(Group.objects.filter(pk__in=pks).values_list("name", flat=True))


def _user_before_save(sender, instance, raw=False, update_fields=None, **kwargs) -> None:
    if raw or _paused.get() or instance.pk is None or _only_last_login(update_fields):
        return
    instance._officers_before = sender.objects.filter(pk=instance.pk).values(
        *_FLAGS, "password").first()


def _user_saved(sender, instance, created, raw=False, update_fields=None, **kwargs) -> None:
    if raw or _paused.get() or _only_last_login(update_fields):
        return
    now = {flag: getattr(instance, flag) for flag in _FLAGS}
    if created:
        staff_event("staff.account_created", target=instance, details=now)
        return
    before = getattr(instance, "_officers_before", None) or {}
    changed = {flag: now[flag] for flag in _FLAGS if before.get(flag) != now[flag]}
    if before.get("password") != instance.password:
        changed["password_changed"] = True
    if changed:
        staff_event("staff.account_changed", target=instance, details=changed)


def _only_last_login(update_fields) -> bool:
    return update_fields is not None and set(update_fields) <= {"last_login"}


def _user_deleted(sender, instance, **kwargs) -> None:
    staff_event("staff.account_deleted", target=instance, details={})


def _device_deleted(sender, instance, **kwargs) -> None:
    """A second factor removed: by the administrator for a lost phone (the next login
    enrols again), or replaced by a new enrolment. Which device, never its secret."""
    if _paused.get() or not instance.confirmed:
        return  # an enrolment never finished was never a second factor
    kind = "totp" if isinstance(instance, TOTPDevice) else "recovery_codes"
    staff_event("staff.second_factor_removed", target=(_label("user"), instance.user_id),
                details={"device": kind})


def _group_saved(sender, instance, created, raw=False, **kwargs) -> None:
    if raw or _paused.get():
        return
    staff_event("staff.group_created" if created else "staff.group_changed",
                target=instance, details={"group": instance.name})


def _group_deleted(sender, instance, **kwargs) -> None:
    staff_event("staff.group_deleted", target=instance, details={"group": instance.name})


def _m2m(kind: str, owner_type: str, names):
    """A receiver for one many-to-many relation: who was given or lost what."""

    def changed(sender, instance, action, reverse, model, pk_set, **kwargs) -> None:
        if _paused.get():
            return
        if action == "pre_clear":
            # What a clear() removes is known only before it runs.
            instance._officers_cleared = set(
                getattr(instance, _related_name(kind, reverse)).values_list("pk", flat=True))
            return
        if action not in ("post_add", "post_remove", "post_clear"):
            return
        pks = pk_set if action != "post_clear" else getattr(instance, "_officers_cleared", set())
        if not pks:
            return
        verb = "added" if action == "post_add" else "removed"
        if reverse:  # e.g. group.user_set.add(user): one event per account changed
            for pk in pks:
                staff_event(f"staff.{kind}_changed", target=(_label(owner_type), pk),
                            details={verb: names([instance.pk])})
            return
        staff_event(f"staff.{kind}_changed", target=instance, details={verb: names(pks)})

    return changed


def _label(owner_type: str) -> str:
    """The target type of an account (``auth.user``) or a group (``auth.group``)."""
    model = get_user_model() if owner_type == "user" else Group
    return model._meta.label_lower


def _related_name(kind: str, reverse: bool) -> str:
    return {("groups", False): "groups", ("groups", True): "user_set",
            ("permissions", False): "user_permissions", ("permissions", True): "user_set",
            ("group_permissions", False): "permissions",
            ("group_permissions", True): "group_set"}[(kind, reverse)]


def connect() -> None:
    User = get_user_model()
    pre_save.connect(_user_before_save, sender=User, dispatch_uid="officers_user_pre")
    post_save.connect(_user_saved, sender=User, dispatch_uid="officers_user_post")
    post_delete.connect(_user_deleted, sender=User, dispatch_uid="officers_user_del")
    post_delete.connect(_device_deleted, sender=TOTPDevice, dispatch_uid="officers_totp_del")
    post_delete.connect(_device_deleted, sender=StaticDevice,
                        dispatch_uid="officers_static_del")
    post_save.connect(_group_saved, sender=Group, dispatch_uid="officers_group_post")
    post_delete.connect(_group_deleted, sender=Group, dispatch_uid="officers_group_del")
    m2m_changed.connect(_m2m("groups", "user", _group_names), sender=User.groups.through,
                        dispatch_uid="officers_user_groups", weak=False)
    m2m_changed.connect(_m2m("permissions", "user", _perm_names),
                        sender=User.user_permissions.through,
                        dispatch_uid="officers_user_perms", weak=False)
    m2m_changed.connect(_m2m("group_permissions", "group", _perm_names),
                        sender=Group.permissions.through,
                        dispatch_uid="officers_group_perms", weak=False)
