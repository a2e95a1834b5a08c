"""xAPI intake: real LMS statement shapes become the right events for the right learner,
every xAPI rule violation is its own 400, repeats apply once, conflicts are 409, and
credentials are checked."""

from __future__ import annotations

import base64
import uuid

import orjson
import pytest
import redis

from core.events import parse_event
from core.identity import learner_pseudonym, pseudonym_secret, record_launch_identity
from core.services import Services
from core.wire import decode
from lms_helpers import basic_headers, cli_env, events_on_stream, xapi_headers
from lti_tool import create_app
from lti_tool.xapi.credentials import create_credentials
from lti_tool.xapi.intake import release_waiting, waiting_key
from sidecar.worker import Worker
from skillgap.cli import main
from xapi_shapes import (
    MOODLE,
    OPENEDX,
    QUIZ,
    moodle_module_viewed,
    moodle_quiz_submitted,
    openedx_group_activity,
    openedx_problem_check,
    openedx_zero_weight_attempt,
    with_change,
)


@pytest.fixture
def client(services):
    return create_app(services=services).test_client()


@pytest.fixture
def moodle(services):
    return xapi_headers(services, "moodle", MOODLE + "/", "1.0.0")


@pytest.fixture
def openedx(services):
    return xapi_headers(services, "openedx", OPENEDX, "1.0.0")


def moodle_learner(services, user_id="42"):
    return learner_pseudonym(pseudonym_secret(services.redis, services.keys), MOODLE, user_id)


def counts(services, tenant="acme"):
    return {k.decode(): int(float(v)) for k, v in services.redis.hgetall(services.keys.xapi_counts(tenant)).items()}


# --- real shapes become the right events -------------------------------------------------


def test_moodle_quiz_attempt_becomes_a_graded_event_of_the_launching_learner(client, services, moodle):
    response = client.post("/xapi/statements", json=[moodle_quiz_submitted()], headers=moodle)
    assert response.status_code == 200  # Moodle's sender treats any other status as failure
    assert response.headers["X-Experience-API-Version"] == "1.0.3"
    (statement_id,) = response.json
    uuid.UUID(statement_id)  # Moodle sends no id: the intake assigns one
    (event,) = events_on_stream(services)
    assert event["learner"] == moodle_learner(services)  # same pseudonym as the LTI launch (sub = user id)
    assert event | {"timestamp": 0} == event | {
        "id": statement_id,
        "tenant": "acme",
        "module": "m-quiz-foundations",
        "kind": "graded",
        "score": 0.5,
        "cohort": "12@moodle.example.com",
        "source": "xapi",
        "timestamp": 0,
    }
    assert event["timestamp"] == pytest.approx(1773153101.0)  # 15:31:41+01:00
    Worker(services).run(burst=True)
    record = services.learners.get("acme", event["learner"])
    assert record is not None and record.events == 1


def test_moodle_course_view_becomes_a_viewed_event(client, services, moodle):
    assert client.post("/xapi/statements", json=moodle_module_viewed(), headers=moodle).status_code == 200
    (event,) = events_on_stream(services)
    assert (event["module"], event["kind"], "score" in event) == ("m-llm-intro", "viewed", False)


def test_a_resent_moodle_batch_gets_the_same_ids_and_applies_once(client, services, moodle):
    batch = [moodle_quiz_submitted(), moodle_module_viewed()]
    first = client.post("/xapi/statements", json=batch, headers=moodle)
    again = client.post("/xapi/statements", json=batch, headers=moodle)
    assert again.status_code == 200 and again.json == first.json
    Worker(services).run(burst=True)
    assert services.learners.get("acme", moodle_learner(services)).events == 2
    assert counts(services)["repeated"] == 2


def test_the_same_id_with_other_content_is_a_409_and_writes_nothing(client, services, openedx):
    statement_id = str(uuid.uuid4())
    assert (
        client.post("/xapi/statements", json=openedx_problem_check("anon-1", statement_id), headers=openedx).status_code
        == 200
    )
    before = len(events_on_stream(services)) + counts(services).get("waiting", 0)
    fresh = openedx_problem_check("anon-2", str(uuid.uuid4()))
    changed = openedx_problem_check("anon-1", statement_id, raw=0)
    response = client.post("/xapi/statements", json=[fresh, changed], headers=openedx)
    assert response.status_code == 409
    assert response.json["error"]["statements"] == [1] and response.json["error"]["ids"] == [statement_id]
    assert len(events_on_stream(services)) + counts(services).get("waiting", 0) == before
    # the refused batch claimed nothing: its good statement is new when sent alone
    assert client.post("/xapi/statements", json=fresh, headers=openedx).status_code == 200
    assert counts(services).get("repeated", 0) == 0


def test_openedx_statements_wait_for_the_learners_first_launch(client, services, openedx):
    learner = "u-launched"
    first = openedx_problem_check("anon-7", str(uuid.uuid4()))
    assert client.post("/xapi/statements", json=first, headers=openedx).status_code == 200
    assert events_on_stream(services) == [] and counts(services)["waiting"] == 1
    # the launch's custom parameter carries the xAPI anonymous id (see README, Open edX)
    claims = {
        "sub": "lti-anon-7",
        "https://purl.imsglobal.org/spec/lti/claim/custom": {"xapi_account": "anon-7"},
    }
    record_launch_identity(services.redis, services.keys, services.pseudonym_secret, "acme", OPENEDX, claims, learner)
    second = openedx_problem_check("anon-7", str(uuid.uuid4()), raw=0)
    assert client.post("/xapi/statements", json=second, headers=openedx).status_code == 200
    events = events_on_stream(services)
    assert sorted(e["id"] for e in events) == sorted([first["id"], second["id"]])
    assert {e["learner"] for e in events} == {learner}
    assert {(e["module"], e["kind"], e["cohort"]) for e in events} == {
        ("m-quiz-foundations", "assessed", "course-v1:Example+LLM101+2026@openedx.example.com")
    }
    assert counts(services)["waiting"] == 0 and counts(services)["released"] == 1


def test_another_platforms_launch_cannot_claim_an_xapi_actor(client, services, openedx):
    """Alias hijack: a launch from another platform of the tenant naming the same xAPI account
    points that platform's alias only; Open edX's statements keep waiting for its own launch."""
    hijack = {"sub": "evil", "https://purl.imsglobal.org/spec/lti/claim/custom": {"xapi_account": "anon-8"}}
    record_launch_identity(
        services.redis, services.keys, services.pseudonym_secret, "acme", "https://evil.example.com", hijack, "u-evil"
    )
    assert (
        client.post(
            "/xapi/statements", json=openedx_problem_check("anon-8", str(uuid.uuid4())), headers=openedx
        ).status_code
        == 200
    )
    assert events_on_stream(services) == [] and counts(services)["waiting"] == 1


def test_waiting_statements_are_released_by_command_once_the_launch_arrived(client, services, openedx):
    statement = openedx_problem_check("anon-9", str(uuid.uuid4()))
    client.post("/xapi/statements", json=statement, headers=openedx)
    assert release_waiting(services, "acme") == 0  # still nobody launched
    claims = {"sub": "x", "email": "pat@example.com"}
    record_launch_identity(services.redis, services.keys, services.pseudonym_secret, "acme", OPENEDX, claims, "u-pat")
    # an Open edX set to XAPI_AGENT_IFI_TYPE = "mbox" sends the email; it maps by its hash
    mbox = with_change(openedx_problem_check("", str(uuid.uuid4())), "actor", {"mbox": "mailto:pat@example.com"})
    client.post("/xapi/statements", json=mbox, headers=openedx)
    assert [e["learner"] for e in events_on_stream(services)] == ["u-pat"]
    record_launch_identity(
        services.redis, services.keys, services.pseudonym_secret, "acme", OPENEDX, {"sub": "anon-9"}, "u-nine"
    )  # older ERB: same id
    assert release_waiting(services, "acme") == 1
    assert sorted(e["learner"] for e in events_on_stream(services)) == ["u-nine", "u-pat"]


class _RacedClient:
    """A Redis client whose first transaction runs `race()` after its reads, before its MULTI:
    as another request releasing the same actor, or a statement arriving, would interleave."""

    def __init__(self, client, race):
        self._client, self._race = client, race

    def __getattr__(self, name):
        return getattr(self._client, name)

    def pipeline(self, transaction=True):
        pipe = self._client.pipeline(transaction=transaction)
        if transaction and self._race is not None:
            race, self._race, multi = self._race, None, pipe.multi

            def race_then_multi():
                pipe.multi = multi  # once: a transaction read again is not raced again
                race()
                multi()

            pipe.multi = race_then_multi
        return pipe


def _waiting_after_launch(client, services, openedx, user: str, learner: str) -> str:
    """A statement of `user` waiting, then `user`'s launch as `learner`: the waiting actor."""
    client.post("/xapi/statements", json=openedx_problem_check(user, str(uuid.uuid4())), headers=openedx)
    record_launch_identity(
        services.redis, services.keys, services.pseudonym_secret, "acme", OPENEDX, {"sub": user}, learner
    )
    (actor,) = services.redis.smembers(services.keys.xapi_waiting_actors("acme"))
    return actor.decode()


def test_two_requests_releasing_the_same_actor_release_it_once(client, services, openedx):
    actor, other = _waiting_after_launch(client, services, openedx, "anon-5", "u-five"), []
    racing = _RacedClient(services.redis, lambda: other.append(release_waiting(services, "acme", [actor])))
    first = release_waiting(Services(services.settings, racing, services.catalog), "acme", [actor])
    assert (first, other) == (0, [1])  # the racer took the list; the first read it again, empty
    assert [e["learner"] for e in events_on_stream(services)] == ["u-five"]
    assert counts(services)["waiting"] == 0 and counts(services)["released"] == 1


def test_a_statement_that_starts_waiting_while_its_actor_is_released_is_released_too(client, services, openedx):
    actor = _waiting_after_launch(client, services, openedx, "anon-6", "u-six")
    key = waiting_key(services.keys, "acme", actor)
    (waiting,) = services.redis.lrange(key, 0, -1)
    late = orjson.dumps({**orjson.loads(waiting), "id": str(uuid.uuid4())})
    racing = _RacedClient(services.redis, lambda: services.redis.rpush(key, late))
    assert release_waiting(Services(services.settings, racing, services.catalog), "acme", [actor]) == 2
    assert [e["learner"] for e in events_on_stream(services)] == ["u-six", "u-six"]
    assert not services.redis.exists(key)


class _FailingLogClient:
    """A Redis client whose first transaction that appends to the log loses its connection."""

    def __init__(self, client):
        self._client, self.failed = client, False

    def __getattr__(self, name):
        return getattr(self._client, name)

    def pipeline(self, transaction=True):
        pipe = self._client.pipeline(transaction=transaction)
        execute = pipe.execute

        def fail_once(*args, **kwargs):
            if not self.failed and any(command[0] == "XADD" for command, _ in pipe.command_stack):
                self.failed = True
                pipe.reset()
                raise redis.ConnectionError("connection lost")
            return execute(*args, **kwargs)

        pipe.execute = fail_once
        return pipe


def test_waiting_statements_are_kept_when_releasing_them_fails(client, services, openedx):
    actor = _waiting_after_launch(client, services, openedx, "anon-7", "u-seven")
    failing = _FailingLogClient(services.redis)
    with pytest.raises(redis.ConnectionError):
        release_waiting(Services(services.settings, failing, services.catalog), "acme", [actor])
    assert failing.failed and events_on_stream(services) == []
    assert release_waiting(services, "acme", [actor]) == 1  # still waiting, released now
    assert [e["learner"] for e in events_on_stream(services)] == ["u-seven"]


def test_openedx_zero_point_problems_and_group_activities_are_accepted_and_counted(client, services, openedx):
    record_launch_identity(
        services.redis, services.keys, services.pseudonym_secret, "acme", OPENEDX, {"sub": "anon-3"}, "u-three"
    )
    batch = [
        openedx_zero_weight_attempt("anon-3", str(uuid.uuid4())),
        openedx_group_activity("anon-3", str(uuid.uuid4())),
    ]
    response = client.post("/xapi/statements", json=batch, headers=openedx)
    assert response.status_code == 200
    events = events_on_stream(services)
    # 0 of 0 points says nothing; the success flag does
    assert [(e["kind"], e.get("score")) for e in events] == [("graded", 1.0), ("assessed", 1.0)]
    tally = counts(services)
    assert tally["deviation:score_min_max_zero"] == 1 and tally["deviation:object_type_group_activity"] == 1


def test_every_event_written_passes_parse_event(client, services, moodle, openedx):
    """The intake builds its events as trusted (tests/test_xapi_events.py has the property)."""
    custom = {"https://purl.imsglobal.org/spec/lti/claim/custom": {"xapi_account": "a"}}
    record_launch_identity(
        services.redis, services.keys, services.pseudonym_secret, "acme", OPENEDX, {"sub": "9", **custom}, "u-a"
    )
    batches = [
        (
            moodle,
            [
                moodle_quiz_submitted(),
                moodle_module_viewed(),
                moodle_quiz_submitted(scaled=-0.5),
                moodle_quiz_submitted(user_id="7", timestamp="2999-01-01T00:00:00Z"),
            ],
        ),
        (
            openedx,
            [
                openedx_problem_check("a", str(uuid.uuid4())),
                openedx_group_activity("a", str(uuid.uuid4())),
                openedx_zero_weight_attempt("a", str(uuid.uuid4())),
            ],
        ),
    ]
    for headers, batch in batches:
        assert client.post("/xapi/statements", json=batch, headers=headers).status_code == 200
    wires = events_on_stream(services)
    assert len(wires) == 7
    for wire in wires:
        assert parse_event(wire, tenant="acme", catalog=services.catalog) == decode(wire, services.catalog)


def test_unmapped_activities_and_other_verbs_are_counted_and_listed(client, services, moodle):
    page = f"{MOODLE}/mod/page/view.php?id=3"
    batch = [
        moodle_module_viewed(activity=page),
        moodle_module_viewed(activity=page, timestamp="2026-03-10T14:05:00Z"),
        moodle_module_viewed(verb={"id": "http://id.tincanapi.com/verb/replied"}),
    ]
    assert client.post("/xapi/statements", json=batch, headers=moodle).status_code == 200
    assert events_on_stream(services) == []
    report = client.get("/xapi/status", headers=moodle).json
    assert report["counts"]["unmapped_activity"] == 2 and report["counts"]["ignored_verb"] == 1
    assert report["unmapped_activities"] == [
        {"activity": page, "type": "page", "statements": 2, "name": "How LLMs work", "course": "12@moodle.example.com"}
    ]


def test_a_voiding_statement_is_counted_as_such_and_the_voided_event_stays(client, services, moodle):
    graded = moodle_quiz_submitted(id=str(uuid.uuid4()))
    assert client.post("/xapi/statements", json=graded, headers=moodle).status_code == 200
    voiding = {
        "actor": graded["actor"],
        "verb": {"id": "http://adlnet.gov/expapi/verbs/voided", "display": {"en-US": "voided"}},
        "object": {"objectType": "StatementRef", "id": graded["id"]},
    }
    assert client.post("/xapi/statements", json=voiding, headers=moodle).status_code == 200
    counted = client.get("/xapi/status", headers=moodle).json["counts"]
    assert counted["voiding"] == 1 and "ignored_verb" not in counted
    assert len(events_on_stream(services)) == 1


def test_status_shows_the_last_events_per_source(client, services, moodle, capsys, settings, monkeypatch):
    client.post("/xapi/statements", json=moodle_quiz_submitted(), headers=moodle)
    report = client.get("/xapi/status", headers=moodle).json
    assert [e["module"] for e in report["recent"]["xapi"]] == ["m-quiz-foundations"]
    cli_env(monkeypatch, settings)
    assert main(["xapi", "status", "--tenant", "acme"]) == 0
    out = capsys.readouterr().out
    assert "Last events from xapi:" in out and "m-quiz-foundations" in out and "No events from moodle yet." in out


def test_put_stores_one_statement_under_the_given_id(client, services, moodle):
    statement_id = str(uuid.uuid4())
    response = client.put(f"/xapi/statements?statementId={statement_id}", json=moodle_quiz_submitted(), headers=moodle)
    assert response.status_code == 204
    assert [e["id"] for e in events_on_stream(services)] == [statement_id]


@pytest.mark.parametrize(
    ("query", "body_id"),
    [
        ("", None),
        ("?statementId=not-a-uuid", None),
        (f"?statementId={uuid.uuid4()}", str(uuid.uuid4())),
    ],
    ids=["missing-statementId", "statementId-not-uuid", "statementId-differs-from-id"],
)
def test_put_refuses_a_bad_statement_id(client, services, moodle, query, body_id):
    body = moodle_quiz_submitted(**({"id": body_id} if body_id else {}))
    response = client.put(f"/xapi/statements{query}", json=body, headers=moodle)
    assert response.status_code == 400 and events_on_stream(services) == []


def test_a_batch_above_the_limit_is_413(services, moodle):
    limited = services.with_settings(xapi_max_statements=2)
    client = create_app(services=limited).test_client()
    response = client.post("/xapi/statements", json=[moodle_module_viewed()] * 3, headers=moodle)
    assert response.status_code == 413 and events_on_stream(services) == []


def test_the_status_report_needs_credentials_but_no_xapi_version(client, moodle):
    assert client.get("/xapi/status").status_code == 401
    response = client.get("/xapi/status", headers={"Authorization": moodle["Authorization"]})
    assert response.status_code == 200 and response.json["tenant"] == "acme"


def test_a_revoked_key_is_refused(services, settings, capsys, monkeypatch):
    credential, secret = create_credentials(services.redis, services.keys, "acme", "moodle", MOODLE)
    cli_env(monkeypatch, settings)
    assert main(["xapi-credentials", "list", "--tenant", "acme"]) == 0
    assert credential.key in capsys.readouterr().out
    assert main(["xapi-credentials", "revoke", credential.key]) == 0
    assert main(["xapi-credentials", "revoke", credential.key]) == 2  # no such key any more
    fresh = create_app(services=services).test_client()  # a tool started after the revocation
    response = fresh.post(
        "/xapi/statements", json=moodle_quiz_submitted(), headers=basic_headers(credential, secret, "1.0.0")
    )
    assert response.status_code == 401


def test_about_needs_no_credentials(client):
    response = client.get("/xapi/about")
    assert response.status_code == 200 and response.json == {"version": ["1.0.3"]}


# --- headers and credentials ---------------------------------------------------------------


@pytest.mark.parametrize(
    "version",
    [None, "0.95", "2.0.0", "1.1", "1.0.3-beta"],
    ids=["missing", "0.95", "2.0.0", "1.1", "1.0.3-beta"],
)
def test_the_version_header_must_be_1_0_x(client, services, moodle, version):
    headers = {k: v for k, v in moodle.items() if k != "X-Experience-API-Version"}
    if version:
        headers["X-Experience-API-Version"] = version
    response = client.post("/xapi/statements", json=moodle_quiz_submitted(), headers=headers)
    assert response.status_code == 400 and response.json["error"]["rule"] == "version_header"


@pytest.mark.parametrize("version", ["1.0", "1.0.0", "1.0.3"])
def test_every_1_0_x_version_is_accepted(client, moodle, version):
    response = client.post(
        "/xapi/statements",
        json=moodle_quiz_submitted(),
        headers={**moodle, "X-Experience-API-Version": version},
    )
    assert response.status_code == 200


def _basic(text: str) -> str:
    return "Basic " + base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer abc",
        "Basic !!!notbase64",
        _basic("no-colon"),
        _basic("sgx_unknown:secret"),
        "Basic ",
        "Basic YWJj\u00e9",  # not ASCII (a server may pass such header bytes through)
    ],
    ids=["missing", "bearer", "bad-base64", "no-colon", "unknown-key", "empty", "not-ascii"],
)
def test_requests_without_valid_credentials_are_401(client, services, authorization):
    headers = {"X-Experience-API-Version": "1.0.3"}
    if authorization is not None:
        headers["Authorization"] = authorization
    response = client.post("/xapi/statements", json=moodle_quiz_submitted(), headers=headers)
    assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Basic")
    assert events_on_stream(services) == []


def test_a_wrong_secret_is_401(client, services):
    credential, _ = create_credentials(services.redis, services.keys, "acme", "moodle", MOODLE)
    response = client.post(
        "/xapi/statements", json=moodle_quiz_submitted(), headers=basic_headers(credential, "guessed", "1.0.0")
    )
    assert response.status_code == 401


def test_each_tenant_gets_its_own_learners(client, services, moodle):
    other, secret = create_credentials(services.redis, services.keys, "globex", "moodle", MOODLE)
    client.post("/xapi/statements", json=moodle_quiz_submitted(), headers=moodle)
    client.post("/xapi/statements", json=moodle_quiz_submitted(), headers=basic_headers(other, secret, "1.0.0"))
    assert sorted(e["tenant"] for e in events_on_stream(services)) == ["acme", "globex"]
    assert counts(services, "globex")["events"] == 1


def test_the_cli_creates_credentials_that_work(client, services, settings, capsys, monkeypatch):
    cli_env(monkeypatch, settings)
    assert main(["xapi-credentials", "create", "--tenant", "acme", "--issuer", MOODLE]) == 0
    lines = dict(line.split(":", 1) for line in capsys.readouterr().out.strip().splitlines())
    headers = {
        "Authorization": _basic(f"{lines['key'].strip()}:{lines['secret'].strip()}"),
        "X-Experience-API-Version": "1.0.0",
    }
    assert client.post("/xapi/statements", json=moodle_quiz_submitted(), headers=headers).status_code == 200
    assert main(["xapi-credentials", "create", "--tenant", "Bad Tenant", "--issuer", MOODLE]) == 2
    assert main(["xapi-credentials", "create", "--tenant", "acme", "--issuer", MOODLE + "/a b"]) == 2
    assert main(["xapi-credentials", "create", "--tenant", "acme", "--issuer", MOODLE + "\x01"]) == 2


# --- every xAPI rule violation is its own 400, and refuses the whole batch -------------------

VIOLATIONS = [
    ("statement-not-object", None, "[]", "statement"),
    ("unknown-property", "color", "red", "statement_property"),
    ("null-property", "result", None, "null_value"),
    ("attachments-not-list", "attachments", {}, "attachments"),
    ("version-2", "version", "2.0.0", "version"),
    ("id-not-uuid", "id", "42", "uuid"),
    ("id-trailing-newline", "id", "e1b5b3f0-7c2d-4f55-9a3e-5b1f4f6f1a2b\n", "uuid"),
    ("actor-missing", "actor", "-", "actor"),
    ("actor-not-object", "actor", "learner", "agent"),
    ("actor-type", "actor.objectType", "Person", "agent_object_type"),
    ("actor-no-identifier", "actor.account", "-", "agent_identifier"),
    ("actor-two-identifiers", "actor.mbox", "mailto:a@example.com", "agent_identifier"),
    ("mbox-not-mailto", "actor", {"mbox": "a@example.com"}, "mbox"),
    ("mbox-sha1sum-not-hex", "actor", {"mbox_sha1sum": "xyz"}, "mbox_sha1sum"),
    ("openid-not-uri", "actor", {"openid": "not a uri"}, "openid"),
    ("account-no-homepage", "actor.account.homePage", "-", "account"),
    ("account-empty-name", "actor.account.name", "", "account"),
    ("group-without-members", "actor", {"objectType": "Group"}, "group_member"),
    ("verb-missing", "verb", "-", "verb"),
    ("verb-id-not-iri", "verb.id", "completed", "verb_id"),
    ("verb-display-not-map", "verb.display", "completed", "language_map"),
    ("object-missing", "object", "-", "object"),
    ("object-type-unknown", "object.objectType", "Thing", "object_type"),
    ("activity-id-missing", "object.id", "-", "activity_id"),
    ("activity-id-not-iri", "object.id", "quiz 7", "activity_id"),
    ("activity-id-control-character", "object.id", QUIZ + "\x01", "activity_id"),
    ("activity-id-trailing-newline", "object.id", QUIZ + "\n", "activity_id"),
    ("activity-type-not-iri", "object.definition.type", "module", "activity_type"),
    ("statement-ref-not-uuid", "object", {"objectType": "StatementRef", "id": "x"}, "uuid"),
    ("scaled-above-1", "result.score.scaled", 1.5, "score_scaled"),
    ("scaled-below-minus-1", "result.score.scaled", -1.01, "score_scaled"),
    ("raw-above-max", "result.score.raw", 102, "score_raw"),
    ("raw-below-min", "result.score.raw", 0, "score_raw"),
    ("min-not-below-max", "result.score.min", 101, "score_range"),
    ("score-not-number", "result.score.raw", "51", "score_raw"),
    ("success-not-boolean", "result.success", "yes", "result_success"),
    ("completion-not-boolean", "result.completion", 1, "result_completion"),
    ("timestamp-not-iso", "timestamp", "10/03/2026 15:31", "timestamp"),
    ("timestamp-date-only", "timestamp", "2026-03-10", "timestamp"),
    ("timestamp-minus-zero-offset", "timestamp", "2026-03-10T15:31:41-00:00", "timestamp_offset"),
    ("registration-not-uuid", "context.registration", "abc", "uuid"),
    ("context-activity-kind", "context.contextActivities.sibling", [], "context_activities"),
    ("context-activity-id", "context.contextActivities.grouping.1.id", "course 7", "activity_id"),
    (
        "course-id-control-character",
        "context.contextActivities.grouping.1.id",
        MOODLE + "/course/view.php?id=1\x02",
        "activity_id",
    ),
]


@pytest.mark.parametrize(("path", "value", "rule"), [v[1:] for v in VIOLATIONS], ids=[v[0] for v in VIOLATIONS])
def test_a_rule_violation_is_a_400_naming_the_rule_and_refuses_the_batch(client, services, moodle, path, value, rule):
    good = moodle_module_viewed()
    bad = [] if path is None else with_change(moodle_quiz_submitted(), path, value)
    response = client.post("/xapi/statements", json=[good, bad], headers=moodle)
    assert response.status_code == 400, response.json
    error = response.json["error"]
    assert (error["rule"], error["statement"]) == (rule, 1)
    assert events_on_stream(services) == [] and counts(services) == {}


def test_the_same_id_less_statement_twice_in_a_batch_has_one_effect(client, services, moodle):
    response = client.post("/xapi/statements", json=[moodle_module_viewed(), moodle_module_viewed()], headers=moodle)
    assert response.status_code == 200 and response.json[0] == response.json[1]
    assert len(events_on_stream(services)) == 1


def test_a_batch_with_the_same_id_twice_is_refused(client, services, openedx):
    statement_id = str(uuid.uuid4())
    batch = [openedx_problem_check("a", statement_id), openedx_problem_check("a", statement_id)]
    response = client.post("/xapi/statements", json=batch, headers=openedx)
    assert response.status_code == 400 and response.json["error"]["rule"] == "duplicate_id"


@pytest.mark.parametrize(
    ("body", "rule"),
    [(b"{not json", "json"), (b"[]", "statement")],
    ids=["not-json", "empty-array"],
)
def test_a_body_that_is_not_statements_is_refused(client, moodle, body, rule):
    response = client.post("/xapi/statements", data=body, headers={**moodle, "Content-Type": "application/json"})
    assert response.status_code == 400 and response.json["error"]["rule"] == rule


def test_a_future_timestamp_from_a_fast_lms_clock_is_accepted_as_now(client, services, moodle):
    response = client.post(
        "/xapi/statements",
        json=moodle_quiz_submitted(timestamp="2999-01-01T00:00:00Z"),
        headers=moodle,
    )
    assert response.status_code == 200
    assert counts(services)["deviation:timestamp_in_future"] == 1
    assert events_on_stream(services)[0]["timestamp"] < 32503680000


def test_moodle_mbox_actors_with_a_type_list_are_accepted(client, services, moodle):
    """logstore_xapi with "send mbox" writes objectType as a one-element list."""
    record_launch_identity(
        services.redis,
        services.keys,
        services.pseudonym_secret,
        "acme",
        MOODLE,
        {"sub": "42", "email": "kim@example.com"},
        "u-kim",
    )
    statement = moodle_quiz_submitted(actor={"objectType": ["Agent"], "mbox": "mailto:kim@example.com"})
    assert client.post("/xapi/statements", json=statement, headers=moodle).status_code == 200
    assert [e["learner"] for e in events_on_stream(services)] == ["u-kim"]
    assert counts(services)["deviation:actor_object_type_list"] == 1


def test_a_quiz_statement_maps_by_the_module_url(services):
    from core.catalog.activities import ActivityMatcher

    matcher = ActivityMatcher(services.catalog)
    assert matcher.module_for(QUIZ) == "m-quiz-foundations"
    assert matcher.module_for(QUIZ + "/") == "m-quiz-foundations"
    assert matcher.module_for(f"{OPENEDX}/xblock/block-v1:Example+LLM101+2026+type@html+block@1") == "m-llm-intro"
    assert matcher.module_for(f"{OPENEDX}/xblock/block-v1:Other+LLM101+2026") is None


def test_launch_emails_are_kept_only_as_keyed_hashes(services):
    import hashlib

    email = "pat@example.com"
    record_launch_identity(
        services.redis, services.keys, services.pseudonym_secret, "acme", OPENEDX, {"sub": "7", "email": email}, "u-pat"
    )
    stored = b" ".join(
        k + b" " + v
        for key in services.redis.scan_iter(f"{services.keys.prefix}:aliases:*")
        for k, v in services.redis.hgetall(key).items()
    )
    assert email.encode() not in stored
    assert hashlib.sha1(f"mailto:{email}".encode()).hexdigest().encode() not in stored
