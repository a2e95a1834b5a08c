"""The learner and instructor pages rendered by a real browser (headless Chromium): they show
the data, on a phone-sized screen too, and Chinese text as glyphs rather than boxes. Without a
Chromium these tests are skipped, saying how to get one; CI (.ci/run) installs it with CJK fonts
and sets SKILLGAP_REQUIRE_BROWSER, which turns a missing browser into a failure."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from edx_platform import Browser

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
ENABLE = "sudo apt-get install chromium fonts-noto-cjk"
# A code point no font has (Supplementary Private Use Area-A): it always renders as the missing-glyph box.
MISSING_GLYPH = "\U000f0000"


def chromium() -> str:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    reason = f"headless Chromium not found ({', '.join(CHROMIUM_NAMES)}); to run this test: {ENABLE}"
    if os.environ.get("SKILLGAP_REQUIRE_BROWSER"):
        pytest.fail(reason)
    pytest.skip(reason)


def _chromium_args(tmp_path: Path) -> list[str]:
    return [
        chromium(),
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]


def render(html: str, tmp_path: Path, name: str) -> tuple[str, Path]:
    """The DOM after the browser ran the page, and a screenshot at a phone's width."""
    page = tmp_path / f"{name}.html"
    page.write_text(html, encoding="utf-8")
    shot = tmp_path / f"{name}.png"
    common = _chromium_args(tmp_path)
    dom = subprocess.run(
        [*common, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    subprocess.run(
        [*common, "--window-size=390,1400", f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    return dom, shot


def rendered_text(text: str, tmp_path: Path, name: str, env: dict | None = None) -> bytes:
    """A screenshot (PNG bytes) of `text` alone, large, in the pages' font stack."""
    page = tmp_path / f"{name}.html"
    page.write_text(
        '<!doctype html><meta charset="utf-8"><body style="margin:0;font: 40px system-ui, '
        f"'Noto Sans CJK SC', sans-serif\">{text}</body>",
        encoding="utf-8",
    )
    shot = tmp_path / f"{name}.png"
    subprocess.run(
        [*_chromium_args(tmp_path), "--window-size=400,80", f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        timeout=300,
        check=True,
        env=env,
    )
    return shot.read_bytes()


def renders_as_boxes(text: str, tmp_path: Path, env: dict | None = None) -> bool:
    """Whether Chromium draws `text` as missing-glyph boxes: then it looks exactly like as many
    characters that no font has."""
    return rendered_text(text, tmp_path, "text", env) == rendered_text(
        MISSING_GLYPH * len(text), tmp_path, "boxes", env
    )


@pytest.mark.slow
def test_chinese_text_renders_as_glyphs_not_boxes(tmp_path):
    assert not renders_as_boxes("推荐理由", tmp_path), f"Chinese renders as boxes: no CJK font ({ENABLE})"
    # The check does see boxes: with only a Latin font available, the same text is boxes.
    latin_only = tmp_path / "fonts.conf"
    dejavu = next(
        (d for d in ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu") if Path(d).is_dir()), None
    )
    if dejavu is None:
        return
    latin_only.write_text(
        f'<?xml version="1.0"?><fontconfig><dir>{dejavu}</dir><cachedir>{tmp_path / "fc-cache"}</cachedir></fontconfig>'
    )
    (tmp_path / "latin").mkdir()
    assert renders_as_boxes("推荐理由", tmp_path / "latin", env={**os.environ, "FONTCONFIG_FILE": str(latin_only)})


@pytest.mark.slow
def test_learner_and_instructor_pages_in_headless_chromium(tool_server, registered, tmp_path):
    registered.members = [{"user_id": f"m-{i}", "status": "Active", "roles": []} for i in range(3)]
    Browser().launch(registered.begin("browser-student", custom={"skillgap_role": "data-scientist"}))
    Browser().launch(registered.begin("browser-teacher", "staff"))
    tool_server.drain()
    learner_html = (
        Browser()
        .launch(registered.begin("browser-student", custom={"skillgap_role": "data-scientist"}, locale="zh-CN"))
        .text
    )
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
