"""A learner's launch reads their record once for both the score it queues and the page, and
explains the recommendations once, for the page."""

from __future__ import annotations

from edx_platform import Browser

from core.learner_store import LearnerStore


def _counted(monkeypatch, name: str) -> list:
    calls = []
    real = getattr(LearnerStore, name)

    def counted(self, *args, **kwargs):
        calls.append(args)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(LearnerStore, name, counted)
    return calls


def test_a_learner_launch_reads_and_explains_the_record_once(tool_server, registered, monkeypatch):
    custom = {"skillgap_role": "ml-engineer"}
    Browser().launch(registered.begin("student-r", "student", custom=custom))
    tool_server.drain()
    decoded, explained = _counted(monkeypatch, "decode"), _counted(monkeypatch, "explain")
    page = Browser().launch(registered.begin("student-r", "student", custom=custom)).text
    assert len(decoded) == 1 and len(explained) == 1
    assert page.count('class="card recommendation"') > 0
    assert "Role: Software / ML engineer" in page
