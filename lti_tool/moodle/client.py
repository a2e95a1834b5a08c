"""A small client for Moodle's REST web services, with Moodle's errors in plain words.

Moodle answers errors with HTTP 200 and a JSON object `{"exception", "errorcode", "message"}`;
the codes an admin meets while setting up a token are explained with what to do.
"""

from __future__ import annotations

import requests

from core.errors import UserError
from core.settings import Settings

REST_PATH = "/webservice/rest/server.php"
# errorcode -> what it means and what to do; {function} and {message} are filled in.
EXPLAINED = {
    "invalidtoken": "Moodle does not accept this token (unknown, expired, or limited to other IP addresses). "
    "Create one under Site administration > Server > Web services > Manage tokens.",
    "nopermissions": "the token's user may not call {function}: {message} "
    "Give that user's role the capabilities listed under 'Install in Moodle' in the README.",
    "accessexception": "the token's external service does not include {function}. Add it under Site administration > "
    "Server > Web services > External services > Functions.",
    "servicenotavailable": "the token's external service is disabled or does not include {function}.",
    "invalidrecord": "this Moodle has no web-service function {function} (is the plugin or Moodle version too old?).",
    "enablewsdescription": "web services are disabled on this Moodle: enable them under Site administration > "
    "Advanced features, and the REST protocol under Server > Web services > Manage protocols.",
    "requireloginerror": "the token's user cannot see that course (not enrolled, or the course is hidden): {message}",
    "invalidparameter": "Moodle refused the parameters of {function}: {message}",
}


class MoodleError(UserError):
    """Moodle could not be reached or refused a call; the message says why in plain words."""

    def __init__(self, message: str, errorcode: str | None = None):
        super().__init__(message)
        self.errorcode = errorcode


def flatten(params: dict, prefix: str = "") -> dict[str, str]:
    """Moodle's REST form encoding: lists and dicts as `name[0][key]=value`."""
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if isinstance(value, dict):
            flat.update(flatten(value, name))
        elif isinstance(value, list | tuple):
            flat.update(flatten(dict(enumerate(value)), name))
        elif isinstance(value, bool):
            flat[name] = "1" if value else "0"
        else:
            flat[name] = str(value)
    return flat


class MoodleClient:
    def __init__(
        self,
        url: str,
        token: str,
        timeout_s: float = Settings.moodle_http_timeout_s,
        session: requests.Session | None = None,
    ):
        if not url.startswith(("https://", "http://")):
            raise MoodleError(f"{url!r} is not a Moodle address (it starts with https:// or http://)")
        if not token:
            raise MoodleError("no web-service token given (--token or SKILLGAP_MOODLE_TOKEN)")
        self.url = url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s
        self.session = session or requests.Session()

    def call(self, function: str, **params: object) -> object:
        data = {
            "wstoken": self.token,
            "wsfunction": function,
            "moodlewsrestformat": "json",
            **flatten(params),
        }
        try:
            response = self.session.post(self.url + REST_PATH, data=data, timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise MoodleError(f"cannot reach Moodle at {self.url}: {exc}") from None
        if response.status_code == 404:
            raise MoodleError(f"{self.url} has no {REST_PATH}: is this the Moodle site address?")
        if response.status_code != 200:
            raise MoodleError(f"Moodle at {self.url} answered HTTP {response.status_code} to {function}")
        try:
            body = response.json()
        except ValueError:
            raise MoodleError(
                f"Moodle at {self.url} did not answer JSON to {function} (is the REST protocol enabled?)"
            ) from None
        if isinstance(body, dict) and "exception" in body:
            code = body.get("errorcode", "")
            message = str(body.get("message", "")).strip()
            explained = EXPLAINED.get(code, "Moodle refused {function}: {message}")
            raise MoodleError(explained.format(function=function, message=message) + f" [{code}]", code)
        return body

    # The functions the sync and the catalog import use (Moodle 3.9+).
    def enrolled_users(self, course: int) -> list[dict]:
        return self.call("core_enrol_get_enrolled_users", courseid=course)

    def grade_items(self, course: int) -> list[dict]:
        """Every user's grade items in the course (userid 0: all users)."""
        return self.call("gradereport_user_get_grade_items", courseid=course, userid=0)["usergrades"]

    def completion(self, course: int, user: int) -> list[dict]:
        return self.call("core_completion_get_activities_completion_status", courseid=course, userid=user)["statuses"]

    def course_contents(self, course: int) -> list[dict]:
        return self.call("core_course_get_contents", courseid=course)
