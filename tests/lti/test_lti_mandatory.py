"""The learner page shows each module mandatory for the learner's role with its due date and
status (done / due in N days / overdue), in English and Chinese, after real launches."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

from edx_platform import Browser

from core.eventlog import append_events
from core.events import parse_event
from core.identity import course_cohort, learner_pseudonym, pseudonym_secret

DAY = 86_400


def mandatory_items(page: str) -> list[str]:
    section = page.split('<section aria-labelledby="mandatory">')[1].split("</section>")[0]
    return [" ".join(re.sub(r"<[^>]+>", " ", "<li" + item).split()) for item in section.split("<li")[1:]]


def post(services, learner, cohort, module, kind, days_ago, score=None):
    body = {"learner": learner, "module": module, "kind": kind, "timestamp": time.time() - days_ago * DAY}
    body.update({"cohort": cohort, **({"score": score} if score is not None else {})})
    event = parse_event(body, tenant="acme", catalog=services.catalog)
    append_events(services.redis, services.keys, services.settings.partitions, [event])


def test_the_learner_page_shows_due_dates_and_status(tool_server, registered):
    services = tool_server.services
    learner = learner_pseudonym(pseudonym_secret(services.redis, services.keys), registered.issuer, "student-m")
    cohort = course_cohort(registered.issuer, registered.context_id)
    Browser().launch(registered.begin("student-m"))  # the enrolment: due in 30 days from now
    tool_server.drain()
    due = datetime.fromtimestamp(services.learners.get("acme", learner).first_seen + 30 * DAY, UTC).date()
    page = Browser().launch(registered.begin("student-m")).text
    assert "Mandatory for your role" in page
    assert mandatory_items(page) == [
        f"Data privacy and compliance for generative AI — Due {due}: 30 day(s) left",
        f"Using AI safely and responsibly — Due {due}: 30 day(s) left",
    ]

    post(services, learner, cohort, "m-llm-intro", "viewed", 45.5)  # enrolled 45.5 days ago
    post(services, learner, cohort, "m-privacy", "completed", 1)
    tool_server.drain()
    page = Browser().launch(registered.begin("student-m")).text
    items = mandatory_items(page)
    assert items[0].startswith("Data privacy and compliance for generative AI — Done")
    assert re.fullmatch(r"Using AI safely and responsibly — Overdue: it was due \S+, 16 day\(s\) ago", items[1])
    assert '<li class="mandatory-module overdue">' in page

    chinese = Browser().launch(registered.begin("student-m", locale="zh-CN")).text
    items = mandatory_items(chinese)
    assert "你的岗位必修" in chinese
    assert items[0] == "生成式AI的数据隐私与合规 — 已完成"
    assert re.fullmatch(r"安全、负责任地使用AI — 已逾期：应于 \S+ 前完成，已过 16 天", items[1])
