"""Replay rebuilds mastery and recommendations from the log and equals the live result; it uses
the active parameter version; parameter versions are never overwritten."""

from __future__ import annotations

import shutil
import time

import numpy as np
import orjson
import pytest

import sidecar.replay
from core.eventlog import append_events
from core.events import parse_event
from core.params import (
    ParametersError,
    activate,
    active_parameters,
    list_versions,
    load_parameters,
    model_from_parameters,
    store_parameters,
)
from core.services import build_services
from engine import MASTERY
from sidecar.replay import check, replay
from sidecar.worker import LostPartition, Worker
from skillgap.cli import main

NOW = 1_790_000_000.0


def mixed_activity(services, learners=12, per_learner=15, seed=5):
    """Graded, completed, viewed and enrolment events, out of time order across learners,
    with some events posted twice."""
    catalog = services.catalog
    rng = np.random.default_rng(seed)
    events = []
    for i in range(learners):
        role = catalog.roles[i % len(catalog.roles)].id
        events.append(
            parse_event(
                {
                    "learner": f"r-{i}",
                    "kind": "enrolled",
                    "role": role,
                    "cohort": f"c-{i % 2}",
                    "timestamp": NOW - 90 * 86_400,
                },
                tenant="acme",
                catalog=catalog,
                now=NOW,
            )
        )
        for _ in range(per_learner):
            module = catalog.modules[int(rng.integers(len(catalog.modules)))].id
            kind = str(rng.choice(["graded", "completed", "viewed"]))
            body = {
                "learner": f"r-{i}",
                "module": module,
                "kind": kind,
                "timestamp": NOW - float(rng.uniform(0, 80 * 86_400)),
            }
            if kind == "graded":
                body["score"] = round(float(rng.random()), 3)
            events.append(parse_event(body, tenant="acme", catalog=catalog, now=NOW))
    rng.shuffle(events[1:])
    return events + events[::7]


def run_live(services, events, chunk=17):
    """Append in several chunks, processing in between: the batches differ from replay's."""
    small = services.with_settings(batch_entries=2)
    for start in range(0, len(events), chunk):
        append_events(services.redis, services.keys, services.settings.partitions, events[start : start + chunk])
        Worker(small, clock=lambda: NOW).run(burst=True)


def test_replay_equals_the_incremental_result(services):
    run_live(services, mixed_activity(services))
    result = check(services)
    assert result.learners == 12 and not result.missing
    assert result.lost == 0 and result.duplicated == 0
    assert result.max_mastery_difference < 1e-6
    assert result.different_rankings == 0 and result.max_gain_difference < 1e-6
    before = {i: services.learners.get("acme", f"r-{i}") for i in range(12)}
    replayed = replay(services, progress=lambda line: None)
    assert replayed.learners == 12 and replayed.events == 12 * 16 and not replayed.not_rederived
    for i in range(12):
        after = services.learners.get("acme", f"r-{i}")
        assert np.allclose(after.state, before[i].state, atol=1e-6)
        assert after.events == before[i].events and after.cohorts == before[i].cohorts
        assert [r["module"] for r in after.recommendations] == [r["module"] for r in before[i].recommendations]


def test_a_damaged_learner_is_found_by_check_and_repaired_by_replay(services):
    run_live(services, mixed_activity(services, learners=3))
    record = services.learners.get("acme", "r-1")
    record.state[MASTERY] = 0.99
    record.events += 2
    services.redis.set(services.learners.key("acme", "r-1"), services.learners.encode(record))
    damaged = check(services)
    assert damaged.duplicated == 2 and damaged.max_mastery_difference > 0.1
    replay(services, progress=lambda line: None)
    repaired = check(services)
    assert repaired.duplicated == 0 and repaired.max_mastery_difference < 1e-6


def test_workers_go_on_after_a_replay_without_applying_anything_twice(services):
    events = mixed_activity(services, learners=4)
    run_live(services, events[:30])
    append_events(services.redis, services.keys, services.settings.partitions, events[30:40])
    replay(services, progress=lambda line: None)  # covers the unprocessed entries too
    append_events(services.redis, services.keys, services.settings.partitions, events[40:])
    Worker(services, clock=lambda: NOW).run(burst=True)
    result = check(services)
    assert result.lost == 0 and result.duplicated == 0 and result.max_mastery_difference < 1e-6


def test_replay_leaves_a_partition_trimmed_without_a_snapshot_as_stored(services):
    module = services.catalog.modules[0].id

    def completed(at: float):
        body = {"learner": "r-0", "module": module, "kind": "completed", "timestamp": at}
        return parse_event(body, tenant="acme", catalog=services.catalog, now=NOW)

    first, second = completed(NOW - 7_200), completed(NOW - 3_600)  # the same day
    run_live(services, [first])
    for p in range(services.settings.partitions):  # an old install's retention trims the first away
        services.redis.xtrim(services.keys.stream(p), maxlen=0, approximate=False)
    run_live(services, [second])
    lines = []
    replay(services, progress=lines.append)  # the log no longer holds r-0's history: nothing is rebuilt
    assert services.learners.get("acme", "r-0").events == 2
    assert any("no snapshot holds them" in line for line in lines)
    run_live(services, [first])  # posted again: still marked as applied, so skipped
    assert services.learners.get("acme", "r-0").events == 2


def without_module(services, tmp_path, module: str):
    """The services with a catalog that no longer has `module` (its block cut from modules.toml)."""
    folder = tmp_path / "catalog-without"
    shutil.copytree(services.settings.catalog_path, folder)
    text = (folder / "modules.toml").read_text()
    blocks = text.split("[[modules]]")
    kept = [b for b in blocks if f'id = "{module}"' not in b]
    assert len(kept) == len(blocks) - 1
    (folder / "modules.toml").write_text("[[modules]]".join(kept))
    return build_services(services.settings.replace(catalog_path=folder), services.redis)


def test_replay_after_the_catalog_lost_a_module_keeps_the_history_that_names_it(
    services, tmp_path, monkeypatch, capsys
):
    module, other = "m-staying-current", "m-prompt-basics"
    events = [
        parse_event(
            {"learner": "r-0", "module": m, "kind": "graded", "score": 1.0, "timestamp": NOW - 3_600 * i},
            tenant="acme",
            catalog=services.catalog,
            now=NOW,
        )
        for i, m in enumerate([module] * 5 + [other])
    ]
    run_live(services, events)
    before = services.learners.get("acme", "r-0")
    changed = without_module(services, tmp_path, module)
    checked = check(changed)
    assert not checked.healthy and checked.not_in_catalog == 5
    assert any(module in note for note in checked.notes)
    lines = []
    result = replay(changed, progress=lines.append)
    assert result.not_rederived and any(f"'{module}'" in line and "put the" in line for line in lines)
    after = changed.learners.get("acme", "r-0")
    assert after.events == before.events == 6
    assert np.array_equal(after.state, before.state)
    # The commands say so: check is unhealthy, replay exits with its "not re-derived" status.
    monkeypatch.setenv("REDIS_URL", services.settings.redis_url)
    monkeypatch.setenv("SKILLGAP_KEY_PREFIX", services.settings.key_prefix)
    monkeypatch.setenv("SKILLGAP_CATALOG_PATH", str(changed.settings.catalog_path))
    capsys.readouterr()
    assert main(["replay", "--check"]) == 1
    assert "not_in_catalog: 5" in capsys.readouterr().out
    assert main(["replay"]) == 3
    assert module in capsys.readouterr().err
    assert changed.learners.get("acme", "r-0").events == 6


def test_replay_keeps_its_lease_through_a_rebuild_longer_than_the_lease(services, monkeypatch):
    events = mixed_activity(services, learners=4)
    run_live(services, events, chunk=5)  # many entries per partition
    short = services.with_settings(lease_ttl_ms=200)
    client, keys = services.redis, services.keys
    apply_to_table = sidecar.replay.apply_to_table

    def slow_apply(table, *args):  # an entry at a time, each slower than half the lease
        assert client.get(keys.owner(table.partition)).startswith(b"replay/")
        assert client.exists(keys.handover(table.partition))
        time.sleep(0.12)
        return apply_to_table(table, *args)

    monkeypatch.setattr(sidecar.replay, "READ_ENTRIES", 1)
    monkeypatch.setattr(sidecar.replay, "apply_to_table", slow_apply)
    replayed = replay(short, progress=lambda line: None, handover_timeout_s=0.2)
    assert replayed.learners == 4 and replayed.events == 4 * 16
    monkeypatch.undo()
    assert check(services).max_mastery_difference < 1e-6


def test_the_replay_command_reports_a_lost_lease_as_an_error(services, monkeypatch, capsys):
    settings = services.settings
    monkeypatch.setenv("REDIS_URL", settings.redis_url)
    monkeypatch.setenv("SKILLGAP_KEY_PREFIX", settings.key_prefix)

    def lost(*args, **kwargs):
        raise LostPartition({2})

    monkeypatch.setattr(sidecar.replay, "replay", lost)
    assert main(["replay"]) == 2
    err = capsys.readouterr().err
    assert "skillgap: error:" in err and "partition 2" in err and "Traceback" not in err


def fitted_document(services, rate=0.5):
    catalog = services.catalog
    module = catalog.modules[0]
    point = next(iter(module.coverage))
    return {
        "schema": 1,
        "source": "test",
        "points": {point: {"prior": 0.3, "half_life_days": None}},
        "learn": {module.id: {point: rate}},
        "learn_sd": {module.id: {point: 0.05}},
        "learners": {module.id: 40},
    }


def test_parameter_versions_are_kept_and_the_active_one_is_used_by_replay(services):
    run_live(services, mixed_activity(services, learners=4))
    before = services.learners.get("acme", "r-0")
    first = store_parameters(services.redis, services.keys, services.catalog, fitted_document(services, 0.5))
    second = store_parameters(services.redis, services.keys, services.catalog, fitted_document(services, 0.7))
    assert (first, second) == (1, 2)
    assert [v["version"] for v in list_versions(services.redis, services.keys)] == [1, 2]
    assert (
        load_parameters(services.redis, services.keys, 1)["learn"]
        != load_parameters(services.redis, services.keys, 2)["learn"]
    )
    assert active_parameters(services.redis, services.keys, services.catalog).version is None
    activate(services.redis, services.keys, services.catalog, first)
    active = active_parameters(services.redis, services.keys, services.catalog)
    point = services.catalog.point_index[next(iter(services.catalog.modules[0].coverage))]
    assert active.version == 1 and active.model.learn[0, point] == 0.5 and active.model.prior[point] == 0.3
    assert np.isinf(active.model.half_life[point])
    replay(services, progress=lambda line: None)
    after = services.learners.get("acme", "r-0")
    assert not np.allclose(after.state[MASTERY], before.state[MASTERY])  # a new prior moves everyone
    assert check(services).max_mastery_difference < 1e-6  # and live workers now agree with it


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"schema": 2}, "schema"),
        ({"points": {"kp-nowhere": {"prior": 0.1}}}, "kp-nowhere"),
        ({"points": {"__first__": {"slip": 0.9}}}, "slip"),
        ({"points": {"__first__": {"speed": 1}}}, "speed"),
        ({"learn": {"m-nowhere": {}}}, "m-nowhere"),
        ({"learn": {"__module__": {"__uncovered__": 0.2}}}, "does not cover"),
        ({"catalog": "another"}, "another"),
    ],
)
def test_bad_parameter_documents_are_refused_naming_the_place(services, change, message):
    catalog = services.catalog
    module = catalog.modules[0]
    uncovered = next(p.id for p in catalog.knowledge_points if p.id not in module.coverage)
    text = orjson.dumps({"schema": 1, **change}).decode()
    text = text.replace("__first__", catalog.knowledge_points[0].id).replace("__module__", module.id)
    text = text.replace("__uncovered__", uncovered)
    with pytest.raises(ParametersError, match=message):
        store_parameters(services.redis, services.keys, catalog, orjson.loads(text))
    assert list_versions(services.redis, services.keys) == []


def test_activating_an_unknown_version_is_refused(services):
    with pytest.raises(ParametersError, match="no parameter version 9"):
        activate(services.redis, services.keys, services.catalog, 9)
    assert model_from_parameters(services.catalog, {"schema": 1}).learn.shape == services.model.learn.shape


def test_workers_switch_to_a_newly_activated_version(services):
    worker = Worker(services, clock=lambda: NOW)
    assert worker.parameters.version is None
    version = store_parameters(services.redis, services.keys, services.catalog, fitted_document(services))
    activate(services.redis, services.keys, services.catalog, version)
    append_events(services.redis, services.keys, services.settings.partitions, mixed_activity(services, learners=1))
    worker.run(burst=True)  # its first heartbeat sees the new version
    assert worker.parameters.version == version
    point = services.catalog.point_index[next(iter(services.catalog.modules[0].coverage))]
    assert worker.store.model.prior[point] == 0.3
    assert check(services).max_mastery_difference < 1e-6  # applied with the version replay uses
