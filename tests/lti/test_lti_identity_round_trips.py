"""An instructor's launch with a roster reads the pseudonym secret at most once per process and
writes the members' aliases in one round trip, not one per member."""

from __future__ import annotations

from edx_platform import LEARNER, Browser

from core.identity import learner_for_alias, learner_pseudonym, pseudonym_secret


def _count_calls(monkeypatch, client, name: str, wanted) -> list:
    calls = []
    real = getattr(client, name)

    def counted(*args, **kwargs):
        if wanted(*args):
            calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(client, name, counted)
    return calls


def test_a_roster_sync_reads_the_secret_once_and_writes_aliases_in_one_round_trip(tool_server, registered, monkeypatch):
    services = tool_server.services
    registered.members = [
        {"user_id": f"member-{i}", "status": "Active", "roles": [LEARNER], "lis_person_sourcedid": f"sis-{i}"}
        for i in range(5)
    ]
    secret_reads = _count_calls(
        monkeypatch, services.redis, "hget", lambda key, field: key == services.keys.secrets and field == "pseudonym"
    )
    member_aliases = _count_calls(
        monkeypatch,
        services.redis,
        "hset",
        lambda key, field=None, *rest: "\x1fsub\x1fmember-" in str(field) or "\x1fperson_sourcedid\x1f" in str(field),
    )
    page = Browser().launch(registered.begin("teacher-m", "staff"))
    assert "Course roster synced: 5 members." in page.text
    Browser().launch(registered.begin("student-m", "student"))
    assert len(secret_reads) <= 1  # the first use; every later learner id uses the kept secret
    assert member_aliases == []  # queued on one pipeline
    learner = learner_pseudonym(pseudonym_secret(services.redis, services.keys), registered.issuer, "member-3")
    assert learner_for_alias(services.redis, services.keys, "acme", registered.issuer, "sub", "member-3") == learner
    assert (
        learner_for_alias(services.redis, services.keys, "acme", registered.issuer, "person_sourcedid", "sis-3")
        == learner
    )
