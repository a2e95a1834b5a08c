"""The learner and instructor pages rendered by a real browser (Debian's headless Chromium,
which `make test` installs when missing): they show the data, on a phone-sized screen too."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from edx_platform import Browser

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def chromium() -> str:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("headless Chromium is needed for this test: `apt-get install chromium` (make test installs it)")


def render(html: str, tmp_path: Path, name: str) -> tuple[str, Path]:
    """The DOM after the browser ran the page, and a screenshot at a phone's width."""
    page = tmp_path / f"{name}.html"
    page.write_text(html, encoding="utf-8")
    shot = tmp_path / f"{name}.png"
    common = [chromium(), "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*common, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120, check=True).stdout
    subprocess.run([*common, "--window-size=390,1400", f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=120, check=True)
    return dom, shot


@pytest.mark.slow
def test_learner_and_instructor_pages_in_headless_chromium(tool_server, registered, tmp_path):
    registered.members = [{"user_id": f"m-{i}", "status": "Active", "roles": []} for i in range(3)]
    Browser().launch(registered.begin("browser-student", custom={"skillgap_role": "data-scientist"}))
    Browser().launch(registered.begin("browser-teacher", "staff"))
    tool_server.drain()
    learner_html = Browser().launch(registered.begin("browser-student", custom={"skillgap_role": "data-scientist"}, locale="zh-CN")).text
    instructor_html = Browser().launch(registered.begin("browser-teacher", "staff")).text

    dom, shot = render(learner_html, tmp_path, "learner")
    assert "推荐你接下来学习的模块" in dom and "岗位：数据科学家" in dom
    assert len(re.findall(r'class="card recommendation"', dom)) >= 1 and "推荐理由" in dom
    assert len(re.findall(r'<tr class="point">', dom)) > 10
    assert re.search(r'role="img" aria-label="\d+%，目标 \d+%"', dom)  # bars are labelled for screen readers
    assert shot.stat().st_size > 10_000

    dom, shot = render(instructor_html, tmp_path, "instructor")
    assert "Skill gaps of LLM upskilling 101" in dom and "4 learners" in dom  # the teacher is no learner
    cells = re.findall(r'<td class="cell l(\d)">(\d+)%</td>', dom)
    assert cells and any(int(value) > 0 for _, value in cells)
    assert "Download CSV" in dom and dom.count('class="largest-gap"') == 5
    assert shot.stat().st_size > 10_000
