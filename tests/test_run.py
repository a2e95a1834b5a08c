"""`skillgap run` end to end, as `make run` starts it: embedded Redis, API, tool, worker,
demo cohort; then a grade posted for a demo learner; then SIGTERM leaves nothing behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from engine.warm import warm_up
from lms_helpers import bearer, settings_env
from skillgap.processes import free_port, port_is_free, stop_processes

pytestmark = pytest.mark.slow
TOKEN = "sgk_test-admin-token-0123456789"


def descendants(pid: int) -> set[int]:
    found: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def start_until_ready(command: str, env: dict, *args: str) -> tuple[subprocess.Popen, str]:
    """Start `skillgap COMMAND`, and read its output up to the line saying it is ready."""
    process = subprocess.Popen(
        [sys.executable, "-m", "skillgap.cli", command, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = []
    for line in process.stdout:
        output.append(line)
        if "Press Ctrl-C to stop." in line:
            break
    return process, "".join(output)


def stop_and_check(process: subprocess.Popen, children: set[int], ports: list[int]) -> None:
    """SIGTERM stops everything it started: exit 0, no child left, every port free."""
    process.send_signal(signal.SIGTERM)
    rest, _ = process.communicate(timeout=30)
    assert process.returncode == 0, rest
    assert "Stopped." in rest
    assert not [pid for pid in children if alive(pid)]
    assert all(port_is_free("127.0.0.1", port) for port in ports)


def test_run_serves_the_demo_and_stops_cleanly(tmp_path):
    api_port, tool_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "SKILLGAP_REDIS_URL")}
    env.update(
        SKILLGAP_DATA_DIR=str(tmp_path / "data"),
        SKILLGAP_API_PORT=str(api_port),
        SKILLGAP_TOOL_PORT=str(tool_port),
        SKILLGAP_ADMIN_TOKEN=TOKEN,
        SKILLGAP_DEMO_LEARNERS="24",
    )
    warm_up()  # the kernels compiled first (minutes on a cold cache): the limit below is for starting
    started = time.monotonic()
    run, text = start_until_ready("run", env)
    children: set[int] = set()
    try:
        assert "SkillGap is running" in text, text
        assert time.monotonic() - started < 60
        assert TOKEN in text
        assert f"http://127.0.0.1:{tool_port}/lti/register?invite=" in text  # a one-time invite for the demo tenant
        api = f"http://127.0.0.1:{api_port}"
        # The first link printed is the demo LMS; its first learner's launch shows their page.
        first_link = re.search(r"^  1\. .*?(http://\S+)$", text, re.M).group(1)
        assert first_link == f"http://127.0.0.1:{tool_port}/demo"
        browser = requests.Session()
        demo_page = browser.get(first_link, timeout=10).text
        login = re.search(r'class="demo-learner" href="([^"]+)"', demo_page).group(1).replace("&amp;", "&")
        platform_form = browser.get(login, timeout=10).text  # the tool's login, then the platform's answer
        fields = dict(re.findall(r'name="(id_token|state)" value="([^"]+)"', platform_form))
        learner_page = browser.post(re.search(r'action="([^"]+)"', platform_form).group(1), data=fields, timeout=10)
        assert learner_page.status_code == 200 and 'class="card recommendation"' in learner_page.text
        learner = re.search(r"/v1/learners/(\S+)/recommendations", text).group(1)
        headers = bearer(TOKEN)
        recs = requests.get(f"{api}/v1/learners/{learner}/recommendations", headers=headers, timeout=5).json()
        assert recs["recommendations"]
        assert requests.get(f"http://127.0.0.1:{tool_port}/health", timeout=5).status_code == 200
        # A wrong token is counted (on the embedded Redis, whose version lacks some newer commands).
        wrong = requests.get(
            f"{api}/v1/learners", headers={"Authorization": "Bearer sgk_wrong-token-0000000000"}, timeout=5
        )
        assert wrong.status_code == 401

        before = requests.get(f"{api}/v1/learners/{learner}/mastery", headers=headers, timeout=5).json()
        module = recs["recommendations"][0]["module"]
        grade = {"learner": learner, "module": module, "kind": "graded", "score": 1.0, "timestamp": time.time()}
        posted = time.monotonic()
        assert requests.post(f"{api}/v1/events", json=grade, headers=headers, timeout=5).status_code == 202
        while True:
            after = requests.get(f"{api}/v1/learners/{learner}/mastery", headers=headers, timeout=5).json()
            if after["knowledge_points"] != before["knowledge_points"]:
                break
            assert time.monotonic() - posted < 1.0, "the grade did not reach mastery within 1 s"
            time.sleep(0.02)
        new_recs = requests.get(f"{api}/v1/learners/{learner}/recommendations", headers=headers, timeout=5).json()
        assert new_recs["computed_at"] > recs["computed_at"]

        children = descendants(run.pid)
        assert len(children) >= 4  # redis, API, tool, worker (and the servers' workers)
    finally:
        stop_and_check(run, children, [api_port, tool_port])


def test_sidecar_serves_the_api_with_workers_and_stops_cleanly(settings, services):
    from core.tokens import create_token

    port = free_port()
    env = {**os.environ, **settings_env(settings), "SKILLGAP_API_PORT": str(port)}
    sidecar, text = start_until_ready("sidecar", env, "--workers", "2")
    children: set[int] = set()
    try:
        assert "2 worker process(es)" in text, text
        children = descendants(sidecar.pid)
        api = f"http://127.0.0.1:{port}"
        headers = bearer(create_token(services.redis, services.keys, "acme"))
        module = services.catalog.modules[0].id
        event = {"learner": "side-1", "module": module, "kind": "completed", "timestamp": time.time()}
        assert requests.post(f"{api}/v1/events", json=event, headers=headers, timeout=5).status_code == 202
        deadline = time.monotonic() + 10
        while requests.get(f"{api}/v1/learners/side-1/recommendations", headers=headers, timeout=5).status_code != 200:
            assert time.monotonic() < deadline, "the workers did not apply the event"
            time.sleep(0.05)
        while True:  # the two workers come to share the partitions
            owners = [services.redis.get(services.keys.owner(p)) for p in range(settings.partitions)]
            if None not in owners and len({owner.split(b"/")[0] for owner in owners}) == 2:
                break
            assert time.monotonic() < deadline + 10, owners
            time.sleep(0.1)
        metrics = requests.get(f"{api}/metrics", timeout=5).text
        assert "skillgap_events_applied_total" in metrics
    finally:
        stop_and_check(sidecar, children, [port])


def test_stop_processes_ends_the_willing_with_sigterm_and_kills_the_rest():
    willing = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    stubborn = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print('ready', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
    )
    assert stubborn.stdout.readline() == b"ready\n"  # SIGTERM is ignored from here on
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    stop_processes([willing, stubborn, done], 0.5)
    assert (willing.returncode, stubborn.returncode, done.returncode) == (-signal.SIGTERM, -signal.SIGKILL, 0)
    stubborn.stdout.close()
