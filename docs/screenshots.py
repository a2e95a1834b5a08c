"""Take README's screenshots with headless Chromium from a running `skillgap run`:

    python docs/screenshots.py --tool http://127.0.0.1:8000 --api http://127.0.0.1:8001 --token TOKEN

Writes docs/screenshots/{learner,teacher,dashboard,heatmap,learner-drilldown,modules,plan,overdue}-{en,zh}.png and
api-docs.png. The pages are fetched as a browser would (the demo platform's launch, the dashboard's
sign-in), saved with a <base> pointing at the server, and rendered by Chromium (CJK fonts needed
for the Chinese ones: fonts-noto-cjk)."""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import requests

OUT = Path(__file__).resolve().parent / "screenshots"


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    raise SystemExit("headless Chromium is needed: apt-get install chromium")


def shoot(html_or_url: str, name: str, base: str, work: Path, width: int = 1280, height: int = 1100) -> None:
    if html_or_url.startswith("http"):
        target = html_or_url
    else:
        page = work / f"{name}.html"
        page.write_text(html_or_url.replace("<head>", f'<head><base href="{base}/">', 1), encoding="utf-8")
        target = page.as_uri()
    subprocess.run(
        [
            chromium(),
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--user-data-dir={work / 'profile'}",
            f"--window-size={width},{height}",
            "--virtual-time-budget=8000",
            f"--screenshot={OUT / (name + '.png')}",
            target,
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    print(OUT / (name + ".png"))


def launch(tool: str, link_class: str, language: str) -> str:
    """The page a demo launch shows: /demo, the tool's login, the platform's form, the launch."""
    browser = requests.Session()
    demo = browser.get(f"{tool}/demo?lang={language}", timeout=10).text
    login = re.search(rf'class="[^"]*{link_class}[^"]*" href="([^"]+)"', demo).group(1).replace("&amp;", "&")
    form = browser.get(login, timeout=10).text
    fields = dict(re.findall(r'name="(id_token|state)" value="([^"]+)"', form))
    return browser.post(re.search(r'action="([^"]+)"', form).group(1), data=fields, timeout=10).text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tool", default="http://127.0.0.1:8000")
    parser.add_argument("--api", default="http://127.0.0.1:8001")
    parser.add_argument("--token", required=True)
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for language in ("en", "zh"):
            shoot(launch(args.tool, "demo-learner", language), f"learner-{language}", args.tool, work, 900)
            shoot(launch(args.tool, "demo-teacher", language), f"teacher-{language}", args.tool, work, 1100)
            analyst = requests.Session()
            page = analyst.get(f"{args.api}/?lang={language}", timeout=10).text
            csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
            analyst.post(f"{args.api}/sign-in", data={"token": args.token, "csrf": csrf}, timeout=10)
            shoot(analyst.get(f"{args.api}/", timeout=10).text, f"dashboard-{language}", args.api, work)
            gaps = analyst.get(f"{args.api}/gaps", timeout=30).text
            shoot(gaps, f"heatmap-{language}", args.api, work, 1280, 1300)
            cell = re.search(r'<a href="(/gaps/cell\?[^"]+)"', gaps).group(1).replace("&amp;", "&")
            learner = re.search(r'href="(/learners/[^"]+)"', analyst.get(args.api + cell, timeout=30).text).group(1)
            shoot(analyst.get(args.api + learner, timeout=10).text, f"learner-drilldown-{language}", args.api, work)
            shoot(
                analyst.get(f"{args.api}/modules", timeout=10).text, f"modules-{language}", args.api, work, 1280, 1400
            )
            shoot(analyst.get(f"{args.api}/plan", timeout=120).text, f"plan-{language}", args.api, work, 1280, 1400)
            shoot(analyst.get(f"{args.api}/overdue", timeout=30).text, f"overdue-{language}", args.api, work)
        shoot(f"{args.api}/v1/docs", "api-docs", args.api, work)


if __name__ == "__main__":
    main()
