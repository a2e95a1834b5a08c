"""The dashboard's session cookie: Flask's signed cookie, Secure as the settings decide."""

from __future__ import annotations

from flask import Flask, request
from flask.sessions import SecureCookieSessionInterface

from core.settings import Settings


class DashboardSessions(SecureCookieSessionInterface):
    def __init__(self, settings: Settings) -> None:
        self.secure = settings.dashboard_secure_cookie
        if self.secure is None and settings.api_base_url is not None and settings.api_base_url.startswith("https://"):
            self.secure = True

    def get_cookie_secure(self, app: Flask) -> bool:
        # Unset and no https public URL: Secure when this request came over https.
        return request.is_secure if self.secure is None else self.secure
