"""The embedded default: no account, no network. Each message is appended as one JSON line
(``to``, ``body``, ``url``, ``reference``, ``sid``, ``at``) to ``settings.SMS_OUTBOX_FILE``,
so `make run` shows the links a merchant would receive (var/sms-outbox.jsonl).

A message written to the outbox has arrived where its reader looks, so the console provider
answers ``delivered`` at once: the sender records the delivery as if the status callback had
come, and an LMS carrying the Art. 27 notice becomes notice evidence for its subject."""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import re
import uuid
from collections.abc import Callable
from pathlib import Path

from consent.sms.base import FoundMessage, OutgoingSms, SendOutcome, SendResult

_URL = re.compile(r"https?://\S+")


class ConsoleProvider:
    name = "console"

    def __init__(self, *, outbox: Path, rate_per_second: int = 100):
        self.outbox = Path(outbox)
        self.rate_per_second = rate_per_second

    def send(self, message: OutgoingSms) -> SendResult:
        sid = "CO" + uuid.uuid4().hex
        url = _URL.search(message.body)
        line = json.dumps({
            "to": message.to, "body": message.body, "url": url.group(0) if url else "",
            "reference": message.reference, "sid": sid,
            "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }, ensure_ascii=False)
        self.outbox.parent.mkdir(parents=True, exist_ok=True)
        with self.outbox.open("a", encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)  # several workers may append at once
            fh.write(line + "\n")
        return SendResult(SendOutcome.ACCEPTED, sid=sid, status="delivered")

    def find(self, *, to: str, since: dt.datetime,
             body_matches: Callable[[str], bool]) -> FoundMessage | None:
        if not self.outbox.exists():
            return None
        with self.outbox.open(encoding="utf-8") as fh:
            for line in fh:
                entry = json.loads(line)
                if entry["to"] == to and body_matches(entry["body"]):
                    return FoundMessage(sid=entry["sid"], status="delivered")
        return None
