"""`skillgap run`: the whole pipeline on one machine, on the embedded default.

Starts Redis (unless REDIS_URL is set), the analyst API, the LTI tool and a worker;
loads a demo cohort through the API's event intake; prints what to open; and on
Ctrl-C or SIGTERM stops everything it started.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import requests

from core.catalog import load_catalog
from core.errors import UserError
from core.identity import pseudonym_secret
from core.keys import Keys
from core.redis_server import EmbeddedRedis, connect
from core.settings import Settings
from core.tokens import create_token, register_token, tenant_for
from lti_tool.demo_platform import demo_cohort, demo_learner_ids
from lti_tool.invites import InviteStore, invite_url
from lti_tool.redis_keys import LtiKeys
from skillgap.compiling import compile_kernels
from skillgap.demo import demo_events, post_events
from skillgap.processes import Supervisor, gunicorn_command, port_is_free

DEMO_FLAG = "demo_loaded:lti"  # the cohort under the demo platform's learner ids
TOKEN_FILE = "analyst-token"  # the token `skillgap run` made, reused by the next run
INVITE_LIFETIME_S = 7 * 86_400
START_TIMEOUT_S = 60.0


class StartupError(UserError):
    pass


def say(message: str) -> None:
    print(message, flush=True)


def wait_healthy(url: str, timeout_s: float, supervisor: Supervisor | None = None) -> None:
    """Return once `url` answers 200 (a started server's health route); StartupError when one of
    the supervisor's processes exits first or `timeout_s` runs out (also used by the benchmarks)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        exited = supervisor.exited() if supervisor is not None else None
        if exited:
            raise StartupError(f"the {exited[0]} process exited with status {exited[1]} while starting")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise StartupError(f"{url} did not answer within {timeout_s:g} s")


def _wait_for_recommendations(api: str, token: str, learner: str, stop: threading.Event) -> bool:
    url = f"{api}/v1/learners/{learner}/recommendations"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline and not stop.is_set():
        response = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=5)
        if response.status_code == 200 and response.json()["recommendations"]:
            return True
        stop.wait(0.25)
    return False


def _check_ports(settings: Settings, with_tool: bool) -> None:
    servers = [("API", settings.api_host, settings.api_port)]
    if with_tool:
        servers.append(("tool", settings.tool_host, settings.tool_port))
    for name, host, port in servers:
        if not port_is_free(host, port):
            raise StartupError(
                f"port {host}:{port} for the {name} is in use; stop what holds it or set "
                f"SKILLGAP_{'API' if name == 'API' else 'TOOL'}_PORT"
            )


def _analyst_token(client, keys: Keys, settings: Settings) -> str:
    """SKILLGAP_ADMIN_TOKEN, else the token an earlier run kept in the data directory (while it
    is still registered for the tenant), else a new one, kept there for the next run."""
    tenant = settings.default_tenant
    if settings.admin_token:
        register_token(client, keys, settings.admin_token, tenant, name="SKILLGAP_ADMIN_TOKEN")
        return settings.admin_token
    path = settings.data_dir / TOKEN_FILE
    if path.exists():
        kept = path.read_text().strip()
        if tenant_for(client, keys, kept) == tenant:
            return kept
    token = create_token(client, keys, tenant, name="skillgap run")
    path.parent.mkdir(parents=True, exist_ok=True)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
        out.write(token + "\n")
    return token


def _redis(settings: Settings, cleanup: ExitStack) -> str:
    """The URL of the Redis to use: REDIS_URL's, or an embedded one stopped with `cleanup`."""
    if settings.redis_url:
        say(f"Redis: {settings.redis_url}")
        return settings.redis_url
    embedded = cleanup.enter_context(EmbeddedRedis(settings.data_dir))
    say(f"Redis: embedded, data in {settings.data_dir}")
    return embedded.url


def _start_workers(supervisor: Supervisor, count: int) -> None:
    for number in range(1, count + 1):
        supervisor.start(f"worker {number}", [sys.executable, "-m", "skillgap.cli", "worker"])


def _watch(supervisor: Supervisor, stop: threading.Event) -> int:
    """Until a signal (0) or a child's exit (1)."""
    while not stop.wait(0.5):
        exited = supervisor.exited()
        if exited:
            say(f"The {exited[0]} process exited with status {exited[1]}; stopping everything.")
            return 1
    return 0


def _on_signals(stop: threading.Event) -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())


def serve_sidecar(settings: Settings, workers: int | None = None) -> int:
    """`skillgap sidecar`: the analyst API (gunicorn) and the stream workers, until a signal."""
    workers = workers or settings.worker_processes
    if workers < 1:
        raise StartupError("--workers must be at least 1")
    _check_ports(settings, with_tool=False)
    compile_kernels(say)
    stop = threading.Event()
    _on_signals(stop)
    with ExitStack() as cleanup:
        redis_url = _redis(settings, cleanup)
        connect(redis_url).close()
        supervisor = Supervisor(dict(os.environ, REDIS_URL=redis_url, SKILLGAP_REDIS_URL=redis_url))
        cleanup.callback(supervisor.stop)
        api = f"http://{settings.api_host}:{settings.api_port}"
        supervisor.start(
            "API",
            gunicorn_command("sidecar.api:create_app()", settings.api_host, settings.api_port, settings.http_workers),
        )
        _start_workers(supervisor, workers)
        wait_healthy(f"{api}/v1/health", START_TIMEOUT_S, supervisor)
        say(f"Sidecar running: analyst API {api}/v1/health, {workers} worker process(es). Press Ctrl-C to stop.")
        status = _watch(supervisor, stop)
        say("Stopping...")
    say("Stopped.")
    return status


def _ready_message(
    elapsed: float, api: str, tool: str, token: str, tenant: str, learner: str | None, token_file: Path, invite: str
) -> str:
    """What to open, in order: the demo LMS (learner and teacher pages), the analysts' dashboard,
    then the admin's setup page for a real LMS."""
    lines = [
        f"\nSkillGap is running ({elapsed:.1f} s to start). Open:",
        f"  1. Try it (a demo LMS: launch as a learner or the teacher)  {tool}/demo",
        f"  2. Analyst dashboard (sign in with the token below)         {api}/",
        f"  3. Connect a real LMS (URLs and keys to register)            {tool}/lti/setup",
        f"\n  Analyst token  {token}   (tenant {tenant}; kept in {token_file})",
        f"  LMS registration URL (one use, 7 days)  {invite}",
        f"  API docs       {api}/v1/docs",
    ]
    if learner:
        lines += [
            "\nOr with curl:",
            f'  curl -H "Authorization: Bearer {token}" {api}/v1/learners/{learner}/recommendations',
            f'  curl -H "Authorization: Bearer {token}" {api}/v1/learners/{learner}/mastery',
        ]
    lines.append("\nPress Ctrl-C to stop.")
    return "\n".join(lines)


def run(settings: Settings) -> int:
    started = time.monotonic()
    catalog = load_catalog(settings.catalog_path)
    say(catalog.summary())
    _check_ports(settings, with_tool=True)
    compile_kernels(say)  # before the signal handlers: Ctrl-C stops a long compile at once
    stop = threading.Event()
    _on_signals(stop)

    with ExitStack() as cleanup:
        redis_url = _redis(settings, cleanup)
        client = connect(redis_url)
        keys = Keys(settings.key_prefix)
        tenant = settings.default_tenant
        token = _analyst_token(client, keys, settings)
        invite = InviteStore(client, LtiKeys(keys)).create(tenant, INVITE_LIFETIME_S)

        env = dict(os.environ, REDIS_URL=redis_url, SKILLGAP_REDIS_URL=redis_url)
        env.setdefault("SKILLGAP_DEMO_PLATFORM", "1")
        # The demo runs on one machine: the tool reaches its demo platform (and a local LMS) on
        # loopback over http. A deployment keeps the defaults (https only, no private addresses).
        env.setdefault("SKILLGAP_ALLOW_PRIVATE_NETWORK", "1")
        env.setdefault("SKILLGAP_OUTBOUND_HTTP_HOSTS", "localhost,127.0.0.1,::1")
        supervisor = Supervisor(env)
        cleanup.callback(supervisor.stop)
        api = f"http://{settings.api_host}:{settings.api_port}"
        tool = f"http://{settings.tool_host}:{settings.tool_port}"
        supervisor.start(
            "API",
            gunicorn_command("sidecar.api:create_app()", settings.api_host, settings.api_port, settings.http_workers),
        )
        supervisor.start(
            "tool",
            gunicorn_command("lti_tool:create_app()", settings.tool_host, settings.tool_port, settings.http_workers),
        )
        _start_workers(supervisor, settings.worker_processes)
        if settings.xapi_forward_url:
            supervisor.start("xAPI forward", [sys.executable, "-m", "skillgap.cli", "xapi", "forward"])
        wait_healthy(f"{api}/v1/health", START_TIMEOUT_S, supervisor)
        wait_healthy(f"{tool}/health", START_TIMEOUT_S, supervisor)

        learners = demo_learner_ids(pseudonym_secret(client, keys), settings.demo_learners)
        demo_learner = learners[0] if learners else None
        if learners:
            if client.hget(keys.meta, DEMO_FLAG):
                say("Demo cohort already loaded (data kept from an earlier run).")
            else:
                events = demo_events(catalog, learners, demo_cohort(), settings.demo_seed, time.time())
                say(
                    f"Loading a demo cohort: {settings.demo_learners} learners, {len(events)} events via POST /v1/events"
                )
                post_events(api, token, events, lambda done, total: say(f"  posted {done}/{total} events"))
                client.hset(keys.meta, DEMO_FLAG, str(time.time()))
            if not _wait_for_recommendations(api, token, demo_learner, stop) and not stop.is_set():
                raise StartupError("the worker produced no recommendations within 60 s; see its log above")

        if not stop.is_set():
            say(
                _ready_message(
                    time.monotonic() - started,
                    api,
                    tool,
                    token,
                    tenant,
                    demo_learner,
                    settings.data_dir / TOKEN_FILE,
                    invite_url(settings, invite),
                )
            )
        if _watch(supervisor, stop):
            return 1
        say("Stopping...")
    say("Stopped.")
    return 0
