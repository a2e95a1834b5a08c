"""Tenants follow the LMS: credentials made for an LMS land in its registration's tenant, and
`skillgap tenants` shows what feeds and reads each tenant."""

from __future__ import annotations

from lms_helpers import cli_env, register_moodle
from lti_tool.xapi.credentials import list_credentials
from skillgap.cli import main

MOODLE = "https://moodle.example.com"


def test_credentials_land_in_the_registrations_tenant_and_tenants_lists_them(services, settings, monkeypatch, capsys):
    cli_env(monkeypatch, settings)
    register_moodle(services, MOODLE, "moodle-co")
    assert main(["xapi-credentials", "create", "--platform", "moodle", "--issuer", MOODLE]) == 0
    [credential] = list_credentials(services.redis, services.keys)
    assert credential.tenant == "moodle-co"
    capsys.readouterr()
    assert main(["tenants"]) == 0
    out = capsys.readouterr().out
    assert "moodle-co: 0 learner(s), 0 analyst token(s)" in out
    assert f"LTI registration  {MOODLE} (client c1)" in out and f"xAPI credentials  {credential.key}" in out
    assert "skillgap token create --tenant moodle-co" in out
    assert main(["token", "create", "--tenant", "moodle-co"]) == 0
    capsys.readouterr()
    assert main(["tenants"]) == 0
    assert "moodle-co: 0 learner(s), 1 analyst token(s)" in capsys.readouterr().out


def test_an_lms_registered_for_two_tenants_needs_a_tenant_named(services, settings, monkeypatch, capsys):
    cli_env(monkeypatch, settings)
    register_moodle(services, MOODLE, "one", "c1")
    register_moodle(services, MOODLE, "two", "c2")
    assert main(["xapi-credentials", "create", "--issuer", MOODLE]) == 2
    assert "several tenants (one, two): give --tenant" in capsys.readouterr().err
    assert main(["xapi-credentials", "create", "--issuer", MOODLE, "--tenant", "two"]) == 0
    assert [c.tenant for c in list_credentials(services.redis, services.keys)] == ["two"]


def test_an_unregistered_lms_gets_the_tenant_its_registration_would(services, settings, monkeypatch):
    cli_env(monkeypatch, settings)
    assert main(["xapi-credentials", "create", "--issuer", "https://lms.example.org"]) == 0
    assert [c.tenant for c in list_credentials(services.redis, services.keys)] == ["lms.example.org"]
