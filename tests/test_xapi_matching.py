"""A statement sent again under a known id matches the stored one when it differs only where
xAPI 1.0.3 says a difference must be ignored (Data 2.3.1), and is a 409 otherwise; the
parameters each statement resource takes (Communication 3.2)."""

from __future__ import annotations

import copy
import uuid

import orjson
import pytest

from lms_helpers import events_on_stream, xapi_headers
from lti_tool import create_app
from lti_tool.xapi import matching
from lti_tool.xapi.statements import content_digest, parse_statement
from xapi_shapes import MOODLE, moodle_quiz_submitted

GROUP = {
    "objectType": "Group",
    "name": "Team",
    "member": [
        {"mbox": "mailto:ann@example.com", "objectType": "Agent"},
        {"account": {"homePage": "https://lms.example.com", "name": "bob"}},
    ],
}


def _changed(change) -> dict:
    statement = moodle_quiz_submitted()
    change(statement)
    return statement


def _set(path: str, value):
    def change(statement: dict) -> None:
        *parents, last = path.split(".")
        node = statement
        for key in parents:
            node = node[key]
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value

    return change


def _matches(first: dict, again: dict) -> bool:
    stored = matching.record(first)
    return matching.matches(stored, matching.record(again), content_digest(again))


IGNORED = {
    "verb display": _set("verb.display", {"en-US": "finished"}),
    "verb display gone": _set("verb.display", None),
    "activity definition": _set("object.definition", {"name": {"en": "Another name"}}),
    "activity definition gone": _set("object.definition", None),
    "object type said": _set("object.objectType", "Activity"),
    "same instant in another zone": _set("timestamp", "2026-03-10T14:31:41Z"),
    "same instant, more digits": _set("timestamp", "2026-03-10T14:31:41.000+00:00"),
    "timestamp the LRS could have set": _set("timestamp", None),
    "stored, authority, version": lambda s: s.update(
        stored="2026-03-11T00:00:00Z",
        version="1.0.3",
        authority={"objectType": "Agent", "mbox": "mailto:lms@example.com"},
    ),
    "attachments": lambda s: s.update(
        attachments=[
            {
                "usageType": "http://example.com/usage",
                "display": {"en": "a"},
                "contentType": "text/plain",
                "length": 1,
                "sha2": "a" * 64,
                "fileUrl": "https://files.example.com/a",
            }
        ]
    ),
    "context activity as one object": lambda s: s["context"]["contextActivities"].update(
        category=s["context"]["contextActivities"]["category"][0]
    ),
    "context activity definition": lambda s: s["context"]["contextActivities"]["grouping"][1].update(
        definition={"name": {"en": "renamed"}}
    ),
}

COUNTED = {
    "score": _set("result.score", {"raw": 52, "min": 1, "max": 101, "scaled": 0.51}),
    "duration written otherwise": _set("result.duration", "PT1.0S"),
    "verb": _set("verb.id", "http://adlnet.gov/expapi/verbs/attempted"),
    "activity": _set("object.id", "https://moodle.example.com/mod/quiz/view.php?id=99"),
    "another instant": _set("timestamp", "2026-03-10T15:31:42+01:00"),
    "actor": _set("actor.account", {"homePage": MOODLE, "name": "43"}),
    "success": _set("result.success", False),
    "context dropped": _set("context", None),
}


@pytest.mark.parametrize("change", IGNORED.values(), ids=IGNORED.keys())
def test_differences_the_spec_ignores_match(change):
    assert _matches(moodle_quiz_submitted(), _changed(change))
    assert _matches(_changed(change), moodle_quiz_submitted())


@pytest.mark.parametrize("change", COUNTED.values(), ids=COUNTED.keys())
def test_any_other_difference_does_not(change):
    assert not _matches(moodle_quiz_submitted(), _changed(change))
    assert not _matches(_changed(change), moodle_quiz_submitted())


def test_a_groups_members_in_another_order_and_an_email_domain_in_capitals_match():
    first = moodle_quiz_submitted(actor=GROUP)
    group = copy.deepcopy(GROUP)
    group["member"].reverse()
    group["member"][1]["mbox"] = "mailto:ann@EXAMPLE.com"
    assert _matches(first, moodle_quiz_submitted(actor=group))
    group["member"][1]["mbox"] = "mailto:ANN@example.com"  # the local part is case-sensitive
    assert not _matches(first, moodle_quiz_submitted(actor=group))


def test_a_record_from_before_matches_only_the_same_content():
    statement = moodle_quiz_submitted()
    legacy = content_digest(statement)
    again = matching.record(statement)
    assert matching.matches(legacy, again, content_digest(statement))
    other = _changed(IGNORED["verb display"])
    assert not matching.matches(legacy, matching.record(other), content_digest(other))


def test_the_record_has_the_length_the_intake_stores():
    for statement in (moodle_quiz_submitted(), _changed(_set("timestamp", None))):
        assert len(parse_statement(statement, "acme", 1.77e9).record) == matching.RECORD_LENGTH


@pytest.fixture
def client(services):
    return create_app(services=services).test_client()


@pytest.fixture
def headers(services):
    return xapi_headers(services, "moodle", MOODLE)


def test_a_matching_statement_sent_again_is_taken_once_and_another_is_a_409(client, headers, services):
    statement_id = str(uuid.uuid4())
    first = moodle_quiz_submitted(id=statement_id)
    assert client.post("/xapi/statements", json=first, headers=headers).status_code == 200
    matching_again = _changed(IGNORED["verb display"]) | {"id": statement_id.upper()}
    matching_again["timestamp"] = "2026-03-10T14:31:41Z"
    response = client.put(f"/xapi/statements?statementId={statement_id}", json=matching_again, headers=headers)
    assert response.status_code == 204
    assert client.post("/xapi/statements", json=matching_again, headers=headers).status_code == 200
    assert len(events_on_stream(services)) == 1
    conflicting = _changed(COUNTED["score"]) | {"id": statement_id}
    assert client.post("/xapi/statements", json=conflicting, headers=headers).status_code == 409
    assert len(events_on_stream(services)) == 1


def test_a_statement_stored_before_records_changed_is_still_recognised(client, headers, services):
    statement_id = str(uuid.uuid4())
    statement = moodle_quiz_submitted(id=statement_id)
    key = services.keys.xapi_statement("acme", statement_id)
    services.redis.set(key, content_digest(statement))  # a record as the intake wrote it before
    assert client.post("/xapi/statements", json=statement, headers=headers).status_code == 200
    assert events_on_stream(services) == []  # a repeat: taken once, before
    other = _changed(IGNORED["verb display"]) | {"id": statement_id}
    assert client.post("/xapi/statements", json=other, headers=headers).status_code == 409


@pytest.mark.parametrize(
    ("method", "query"),
    [
        ("post", "?foo=bar"),
        ("post", "?statementId=" + str(uuid.uuid4())),
        ("post", "?method=PUT"),
        ("put", "?statementId={id}&foo=bar"),
        ("put", "?statementID={id}"),
        ("put", "?statementid={id}"),
    ],
    ids=["post-unknown", "post-statement-id", "post-alternate-syntax", "put-unknown", "put-case", "put-lowercase"],
)
def test_a_parameter_the_resource_does_not_take_is_a_400(client, headers, services, method, query):
    statement_id = str(uuid.uuid4())
    statement = moodle_quiz_submitted(id=statement_id)
    response = getattr(client, method)(
        "/xapi/statements" + query.format(id=statement_id),
        data=orjson.dumps(statement),
        headers={**headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 400 and response.json["error"]["rule"] == "parameter", response.json
    assert events_on_stream(services) == []
