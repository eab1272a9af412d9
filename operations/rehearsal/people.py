"""Simulated merchants and users: they open their SMS link and use the real pages over HTTP.

Each person has a `requests.Session` (cookies, CSRF) and reads the forms the page shows them,
exactly as a phone's browser would without JavaScript. Nothing here reaches into the service's
internals: if the page changes so that a person can no longer answer, the rehearsal fails.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin

import requests

LINK = re.compile(r"https?://\S+/c/[A-Za-z0-9_-]{22}")


class RehearsalPersonError(Exception):
    """A simulated person could not do what they came to do (a page refused or broke)."""


@dataclass
class Form:
    action: str
    fields: dict[str, str] = field(default_factory=dict)
    radios: dict[str, list[str]] = field(default_factory=dict)


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []

    def handle_starttag(self, tag: str, attrs) -> None:
        a = dict(attrs)
        if tag == "form" and (a.get("method") or "get").lower() == "post":
            self.forms.append(Form(action=a.get("action") or ""))
        elif tag == "input" and self.forms:
            form, name = self.forms[-1], a.get("name")
            if not name:
                return
            if a.get("type") == "radio":
                form.radios.setdefault(name, []).append(a.get("value", ""))
            elif a.get("type") in ("hidden", "text", None):
                form.fields[name] = a.get("value", "")


_PEOPLE_NET = ipaddress.ip_network("198.18.0.0/15")  # RFC 2544: benchmarking, never routed


def person_address(person: int) -> str:
    return str(_PEOPLE_NET[person % _PEOPLE_NET.num_addresses])


def link_in(body: str) -> str | None:
    match = LINK.search(body)
    return match.group(0) if match else None


class Visitor:
    """One person's browser session on the consent pages."""

    def __init__(self, link: str, base_url: str, person: int = 0) -> None:
        # The SMS carries the public address; the rehearsal serves on its own port.
        self.url = base_url + link[link.index("/c/"):]
        self.session = requests.Session()
        # Each person comes from their own phone's address, as through the TLS proxy in
        # production (the per-address rate limit of the identity check applies per person).
        self.session.headers["X-Forwarded-For"] = person_address(person)
        self.page = ""
        self.page_url = ""

    def _take(self, response: requests.Response) -> str:
        if response.status_code >= 400:
            raise RehearsalPersonError(f"{response.request.method} {response.url} answered "
                                       f"{response.status_code}")
        self.page, self.page_url = response.text, response.url
        return self.page

    def open(self) -> str:
        return self._take(self.session.get(self.url, timeout=30))

    def forms(self) -> list[Form]:
        parser = _Forms()
        parser.feed(self.page)
        return parser.forms

    def submit(self, form: Form, values: dict[str, str] | None = None) -> str:
        data = {**form.fields, **(values or {})}
        target = urljoin(self.page_url, form.action or self.page_url)
        return self._take(self.session.post(target, data=data, timeout=30,
                                            headers={"Referer": self.page_url}))

    def form_with(self, *names: str) -> Form:
        for form in self.forms():
            if all(n in form.fields or n in form.radios for n in names):
                return form
        raise RehearsalPersonError(f"no form with {names} on {self.page_url}")

    def only_form(self) -> Form:
        forms = self.forms()
        if len(forms) != 1:
            raise RehearsalPersonError(f"expected one form on {self.page_url}, saw {len(forms)}")
        return forms[0]

    # --- What people come to do ---------------------------------------------------------

    def verify(self, answer: str) -> None:
        self.open()
        self.submit(self.form_with("answer"), {"answer": answer})

    def answer(self, *, required: str | None, optional: dict[str, str]) -> None:
        """Choose on the notice page ("agree"/"decline"), then confirm."""
        form = self.form_with()
        values = {}
        if required is not None and "required" in form.radios:
            values["required"] = required
        for key, choice in optional.items():
            if f"opt:{key}" in form.radios:
                values[f"opt:{key}"] = choice
        self.submit(form, values)
        self.submit(self.only_form())  # the confirmation page: "submit as shown"

    def optional_items(self) -> list[str]:
        form = self.form_with()
        return [name[4:] for name in form.radios if name.startswith("opt:")]

    def receipt_json(self) -> dict:
        match = re.search(r'href="([^"]+\.json)"', self.page)
        if not match:
            raise RehearsalPersonError("the receipt page offers no download")
        response = self.session.get(urljoin(self.page_url, match.group(1)), timeout=30)
        if response.status_code != 200:
            raise RehearsalPersonError(f"receipt download answered {response.status_code}")
        return response.json()

    def press(self, path_suffix: str) -> None:
        """Open the status page's withdraw/object form and press its button."""
        self._take(self.session.get(self.url + path_suffix, timeout=30))
        self.submit(self.only_form())
