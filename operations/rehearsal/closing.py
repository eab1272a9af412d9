"""The end of the story: the totals reconciled (stage 11) and the audit trail sealed,
verified, exported and verified again by the bundle's own standalone verifier (stage 12)."""

from __future__ import annotations

import subprocess
import sys

from operations.rehearsal.context import Context


def stage_reconcile(ctx: Context) -> None:
    from transfers.selectors import plan_reconciliation

    with ctx.progress.stage("reconcile", "11. 합계 대사", total=1) as st:
        rows = plan_reconciliation(ctx.plan)
        st.advance()
        problems = [r for r in rows if not r.ok]
        st.note(f"{len(rows)} totals, {len(problems)} mismatched")
    ctx.facts["reconciliation"] = rows


def stage_audit(ctx: Context) -> None:
    from audit.export import audit_bundle_export
    from audit.models import Checkpoint
    from audit.sealing import audit_log_seal
    from audit.verification import AuditLogCorrupt, audit_log_verify

    bundle = ctx.out / "audit-bundle"
    with ctx.progress.stage("audit", "12. 감사 기록 봉인·검증·내보내기", total=3) as st:
        audit_log_seal(force_checkpoint=True)
        try:
            report, problem = audit_log_verify(), ""
        except AuditLogCorrupt as exc:
            report, problem = None, str(exc)
        st.advance()
        audit_bundle_export(out_dir=bundle)
        st.advance()
        # The commission's own check: the bundle's standalone verifier, in a fresh process.
        checked = subprocess.run(  # noqa: S603 - our interpreter, our freshly written bundle
            [sys.executable, str(bundle / "verify.py"), str(bundle)],
            capture_output=True, text=True, timeout=3600)
        st.advance()
        st.note(f"{report.entries if report else 0:,} entries verified; bundle: "
                f"{'ok' if checked.returncode == 0 else 'FAILED'}")
    ctx.facts["audit"] = {"entries": report.entries if report else 0,
                          "checkpoints": Checkpoint.objects.count(),
                          "verified": report is not None, "problem": problem,
                          "bundle_verified": checked.returncode == 0,
                          "bundle_output": (checked.stdout + checked.stderr)[-2000:]}

