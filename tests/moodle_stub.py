"""A local stand-in for Moodle's REST web-service endpoint, answering with the response
shapes and error objects Moodle documents (HTTP 200, `{"exception", "errorcode", "message"}`)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

TOKEN = "0123456789abcdef0123456789abcdef"


def import_moodle_args(url: str, course: int, output) -> list[str]:
    """`skillgap catalog import-moodle` against the stub's course, writing to `output`."""
    return [
        "catalog",
        "import-moodle",
        "--url",
        url,
        "--token",
        TOKEN,
        "--course",
        str(course),
        "--output",
        str(output),
    ]


def moodle_error(exception: str, errorcode: str, message: str) -> dict:
    return {"exception": exception, "errorcode": errorcode, "message": message}


INVALID_TOKEN = moodle_error("moodle_exception", "invalidtoken", "Invalid token - token not found")


class MoodleStub:
    """`answers[wsfunction]` is the JSON to send (or a callable of the form parameters)."""

    def __init__(self):
        self.answers: dict[str, object] = {}
        self.calls: list[dict[str, str]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                if self.path != "/webservice/rest/server.php":
                    self.send_response(404)
                    self.end_headers()
                    return
                length = int(self.headers.get("Content-Length", 0))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                stub.calls.append(form)
                body = stub.answer(form)
                payload = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def answer(self, form: dict[str, str]) -> object:
        if form.get("wstoken") != TOKEN:
            return INVALID_TOKEN
        function = form.get("wsfunction", "")
        if function not in self.answers:
            return moodle_error(
                "dml_missing_record_exception",
                "invalidrecord",
                "Can't find data record in database table external_functions.",
            )
        answer = self.answers[function]
        return answer(form) if callable(answer) else answer

    def __enter__(self) -> MoodleStub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def enrolled_user(user_id: int, role: str = "student") -> dict:
    return {
        "id": user_id,
        "username": f"user{user_id}",
        "fullname": f"User {user_id}",
        "email": f"user{user_id}@example.com",
        "firstaccess": 1767225600,
        "lastaccess": 1773100000,
        "roles": [{"roleid": 5 if role == "student" else 3, "name": "", "shortname": role, "sortorder": 0}],
        "enrolledcourses": [{"id": 12, "fullname": "LLM 101", "shortname": "LLM101"}],
    }


def grade_item(
    item_id: int,
    *,
    cmid: int | None,
    module: str | None,
    raw: float | None,
    graded: int | None,
    itemtype: str = "mod",
    grademax: float = 10.0,
) -> dict:
    return {
        "id": item_id,
        "itemname": f"Item {item_id}",
        "itemtype": itemtype,
        "itemmodule": module,
        "iteminstance": item_id,
        "itemnumber": 0,
        "idnumber": "",
        "categoryid": 1,
        "outcomeid": None,
        "scaleid": None,
        "locked": False,
        "cmid": cmid,
        "weightraw": 0.5,
        "weightformatted": "50.00 %",
        "status": "",
        "graderaw": raw,
        "gradedatesubmitted": graded,
        "gradedategraded": graded,
        "gradehiddenbydate": False,
        "gradeneedsupdate": False,
        "gradeishidden": False,
        "gradeislocked": False,
        "gradeisoverridden": False,
        "gradeformatted": "" if raw is None else f"{raw:.2f}",
        "grademin": 0,
        "grademax": grademax,
        "rangeformatted": f"0.00&ndash;{grademax:.2f}",
        "percentageformatted": "",
        "feedback": "",
        "feedbackformat": 0,
    }


def user_grades(course: int, user_id: int, items: list[dict]) -> dict:
    return {
        "courseid": course,
        "courseidnumber": "",
        "userid": user_id,
        "userfullname": f"User {user_id}",
        "useridnumber": "",
        "maxdepth": 2,
        "gradeitems": items,
    }


def completion_status(cmid: int, modname: str, state: int, timecompleted: int) -> dict:
    return {
        "cmid": cmid,
        "modname": modname,
        "instance": cmid,
        "state": state,
        "timecompleted": timecompleted,
        "tracking": 2,
        "overrideby": None,
        "valueused": False,
        "hascompletion": True,
        "isautomatic": True,
        "istrackeduser": True,
        "uservisible": True,
        "details": [],
    }


def course_section(section: int, modules: list[dict]) -> dict:
    return {
        "id": 100 + section,
        "name": f"Topic {section}",
        "visible": 1,
        "summary": "",
        "summaryformat": 1,
        "section": section,
        "hiddenbynumsections": 0,
        "uservisible": True,
        "modules": modules,
    }


def course_module(site: str, cmid: int, modname: str, name: str) -> dict:
    module = {
        "id": cmid,
        "name": name,
        "instance": cmid,
        "contextid": 500 + cmid,
        "visible": 1,
        "uservisible": True,
        "visibleoncoursepage": 1,
        "modicon": "",
        "modname": modname,
        "modplural": modname + "s",
        "indent": 0,
        "onclick": "",
        "afterlink": None,
        "customdata": "{}",
        "noviewlink": False,
        "completion": 1,
    }
    if modname != "label":
        module["url"] = f"{site}/mod/{modname}/view.php?id={cmid}"
    return module
