"""People from HR: POST /v1/people and `skillgap import-people` check the whole batch before
writing; a person's role follows them into every course; departments break down the reports."""

from __future__ import annotations

import pytest

from lms_helpers import cli_env, graded_event
from sidecar.worker import Worker
from skillgap.cli import main


def roles(services):
    return [r.id for r in services.catalog.roles]


def graded(services, learner, cohort):
    return graded_event(services, learner=learner, cohort=cohort, score=0.4)


def test_a_persons_role_follows_them_into_every_course(client, services, headers):
    analyst, engineer = roles(services)[1], roles(services)[2]
    people = [
        {"person": "p-1", "role": analyst, "department": "Risk", "manager": "p-9", "start_date": "2026-01-05"},
        {"person": "p-2", "role": engineer, "department": "IT"},
    ]
    assert client.post("/v1/people", json=people, headers=headers).status_code == 202
    events = [
        graded(services, "p-1", "course-a"),
        graded(services, "p-1", "course-b"),
        graded(services, "p-2", "course-a"),
    ]
    assert client.post("/v1/events", json=events, headers=headers).status_code == 202
    Worker(services).run(burst=True)
    for cohort in ("course-a", "course-b"):
        report = client.get(f"/v1/cohorts/{cohort}/gaps?by=learner&format=json", headers=headers).json
        assert {row["learner"]: row["role"] for row in report["by_learner"]}["p-1"] == analyst
    report = client.get("/v1/gaps", headers=headers).json
    assert sorted((row["department"], row["learners"]) for row in report["by_department"]) == [("IT", 1), ("Risk", 1)]
    csv_text = client.get("/v1/gaps?format=csv&by=department", headers=headers).get_data(as_text=True)
    assert csv_text.splitlines()[0] == "department,learners,loss" and "Risk,1," in csv_text
    # The dashboard shows the same breakdown.
    page = client.get("/").get_data(as_text=True)
    csrf = page.split('name="csrf" value="')[1].split('"')[0]
    client.post("/sign-in", data={"token": headers["Authorization"].split()[1], "csrf": csrf})
    gaps = client.get("/gaps").get_data(as_text=True)
    assert "By department" in gaps and "<td>Risk</td>" in gaps and "<td>IT</td>" in gaps


@pytest.mark.parametrize(
    ("person", "field"),
    [
        ({"role": "x"}, "[1].person"),
        ({"person": "p-3", "role": "no-such-role"}, "[1].role"),
        ({"person": "someone@example.com", "role": None}, "[1].person"),
        ({"person": "p-3", "role": "ROLE", "start_date": "5/1/2026"}, "[1].start_date"),
        ({"person": "p-3", "role": "ROLE", "start_date": "20260105"}, "[1].start_date"),
        # due dates (start + days) would leave the calendar: the learner's pages would fail
        ({"person": "p-3", "role": "ROLE", "start_date": "9999-12-31"}, "[1].start_date"),
        ({"person": "p-3", "role": "ROLE", "start_date": "0001-01-01"}, "[1].start_date"),
        ({"person": "p-3", "role": "ROLE", "salary": "1"}, "[1].salary"),
    ],
)
def test_a_bad_person_refuses_the_whole_batch(client, services, headers, person, field):
    person = {k: (roles(services)[0] if v == "ROLE" else v) for k, v in person.items()}
    batch = [{"person": "p-1", "role": roles(services)[0]}, person]
    response = client.post("/v1/people", json=batch, headers=headers)
    assert response.status_code == 400 and response.json["error"]["field"] == field
    assert services.redis.hlen(services.keys.people("acme")) == 0


def test_people_need_a_token(client):
    assert client.post("/v1/people", json={"person": "p-1", "role": "x"}).status_code == 401


def test_import_people_from_an_hr_csv(services, settings, monkeypatch, tmp_path, capsys):
    cli_env(monkeypatch, settings)
    analyst = roles(services)[1]
    path = tmp_path / "hr.csv"
    path.write_bytes(
        (
            "person;role;department;manager;start_date\r\n"
            f"p-1;{analyst};Risk;p-9;2026-01-05\r\np-2;{analyst};Risk;;\r\n"
        ).encode("utf-16")
    )
    assert main(["import-people", str(path), "--tenant", "acme"]) == 0
    assert "2 people" in capsys.readouterr().err
    assert services.redis.hlen(services.keys.people("acme")) == 2

    bad = tmp_path / "bad.csv"
    bad.write_text(f"person,role,department\np-3,{analyst},Ops\np-4,nobody,Ops\np-5,{analyst},Ops,extra\n")
    assert main(["import-people", str(bad), "--tenant", "acme"]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:3:2: role: unknown role 'nobody'" in err
    assert f"{bad}:4: has 4 fields, more than the header's 3" in err
    assert "Traceback" not in err and services.redis.hlen(services.keys.people("acme")) == 2  # nothing of it written
