"""An xAPI client for the company's own LRS (Learning Locker, Ralph, Veracity...): POST
statements to it (forward.py) and read its statements resource page by page (pull.py)."""

from __future__ import annotations

from urllib.parse import urljoin

import orjson
import requests

from core.errors import UserError
from lti_tool.xapi.statements import VERSION


class LrsError(Exception):
    """The LRS could not be reached or answered with a status that may pass (5xx, 429, 401)."""


class LrsRefused(UserError):
    """The LRS refused a read for good (a 4xx other than 429)."""


class Lrs:
    def __init__(self, url: str, username: str | None, password: str | None, timeout_s: float):
        self.base = url if url.endswith("/") else url + "/"
        self.timeout_s = timeout_s
        self.http = requests.Session()
        if username is not None:
            self.http.auth = (username, password or "")
        self.http.headers.update({"X-Experience-API-Version": VERSION})

    def post(self, statements: list[bytes]) -> int:
        """POST statements (each already JSON); returns the status, LrsError if unreachable."""
        body = b"[" + b",".join(statements) + b"]"
        try:
            response = self.http.post(
                urljoin(self.base, "statements"),
                data=body,
                timeout=self.timeout_s,
                headers={"Content-Type": "application/json"},
            )
        except requests.RequestException as exc:
            raise LrsError(f"the LRS at {self.base} is unreachable: {exc}") from None
        return response.status_code

    def statements(self, since: str | None, limit: int):
        """Pages of statements stored after `since`, oldest first, following `more`."""
        params = {"ascending": "true", "limit": str(limit)}
        if since:
            params["since"] = since
        url: str | None = urljoin(self.base, "statements")
        while url:
            try:
                response = self.http.get(url, params=params, timeout=self.timeout_s)
            except requests.RequestException as exc:
                raise LrsError(f"the LRS at {self.base} is unreachable: {exc}") from None
            if response.status_code != 200:
                message = f"the LRS answered GET statements with {response.status_code}: {response.text[:300]}"
                if 400 <= response.status_code < 500 and response.status_code != 429:
                    raise LrsRefused(message)
                raise LrsError(message)
            try:
                page = orjson.loads(response.content)
                statements, more = page["statements"], page.get("more")
            except (orjson.JSONDecodeError, KeyError, TypeError):
                raise LrsRefused(f"the LRS at {self.base} sent no StatementResult") from None
            yield statements
            # `more` is relative to the LRS's host (xAPI 1.0.3, part 3, 2.1.3) and carries the query.
            url, params = (urljoin(self.base, more), None) if more and statements else (None, None)
