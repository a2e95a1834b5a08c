"""Why a module is recommended. Workers store each learner's ranking compact; readers explain
it from the learner's state as of the ranking's time (the same numbers the engine ranked on)
and render a sentence in the reader's language."""

from __future__ import annotations

import numpy as np

from core.catalog import Catalog
from engine import RANKING_READY_MASTERY, Action, Model, needed_targets
from engine.kernels.recommend import DECISIVE_SPREADS, SHORTFALL_SPREADS
from engine.model import main_points


def recommendation_items(
    catalog: Catalog,
    model: Model,
    ranking: dict[str, list],
    mastery: np.ndarray,
    uncertainty: np.ndarray,
    targets: np.ndarray,
    uncertainty_threshold: float,
    prerequisite_threshold: float = RANKING_READY_MASTERY,
    own_points: np.ndarray | None = None,
) -> list[dict]:
    """One learner's stored plan, explained as the engine valued it (engine/recommend.py): in
    plan order, each teaching module's points below their target (the role's, or the mastery a
    module the role needs asks of a prerequisite), with the short points whose modules need
    them (`needed_for`), from the mastery the modules
    before it bring to what it adds at its rate times the learner's readiness; what it
    `waits_for` (required points below the threshold, which slow it) and `unlocks` (modules the
    role needs that it makes ready); each assessment's points where the result decides whether
    to train on. `mastery` and `uncertainty` (M,) are the learner's belief as of the plan's time.
    `own_points` (M,) bool, the points that set the learner's role apart (engine.recommend's):
    the first teaching item mainly training one says which (`own_path`), as where the plan leads
    (not for a role whose own points are all it targets, the default role's: nothing sets it apart)."""
    points = catalog.knowledge_points
    threshold = prerequisite_threshold
    raised = needed_targets(mastery[None], targets[None], model, threshold)[0]
    planned = np.array(mastery, dtype=np.float64)

    def readiness(q: int, belief: np.ndarray) -> float:
        required = np.flatnonzero(model.requires[q])
        return float(min(1.0, *(belief[required] / threshold))) if threshold > 0 and required.size else 1.0

    own_path = None
    if own_points is not None and not np.array_equal(own_points, targets > 0):
        own_path = model.trains_mainly & own_points[None, :]
    items = []
    for position, module_id in enumerate(ranking.get("module", ())):
        q = catalog.module_index[module_id]  # the store drops modules no longer in the catalog
        action = ranking["action"][position]
        item = {
            "module": module_id,
            "action": action,
            "expected_gain": round(float(ranking["gain"][position]), 6),
            "gain_per_hour": round(float(ranking["per_minute"][position]) * 60.0, 6),
            "relies_on": [
                {"point": points[j].id, "mastery": round(float(planned[j]), 4)}
                for j in np.flatnonzero(model.requires[q])
            ],
        }
        if own_path is not None and own_path[q].any():
            item["own_path"] = [points[j].id for j in np.flatnonzero(own_path[q])]
            own_path = None  # the first such item only: where the plan leads
        mandatory = action == Action.MANDATORY.name.lower()
        if mandatory:
            item["mandatory"] = True  # required of the role and due soon: first whatever it closes
        if action == Action.ASSESS.name.lower() or (mandatory and model.assessment[q]):
            above = planned - raised
            decisive = (model.coverage[q] > 0) & (raised > 0) & (uncertainty >= uncertainty_threshold)
            decisive &= (above >= 0) & (above <= DECISIVE_SPREADS * uncertainty)
            item["closes"] = []
            item["information"] = round(float(ranking["information"][position]), 6)
            item["measures"] = sorted(
                (
                    {
                        "point": points[j].id,
                        "mastery": round(float(planned[j]), 4),
                        "target": round(float(raised[j]), 4),
                        "uncertainty": round(float(uncertainty[j]), 4),
                    }
                    for j in np.flatnonzero(decisive)
                ),
                key=lambda m: m["uncertainty"],
                reverse=True,
            )
            items.append(item)
            continue
        ready = readiness(q, planned)
        closes = []
        # the points the engine values: short of target, or at it while the belief allows a shortfall
        valued = (model.learn[q] > 0) & (raised > 0) & (planned - raised < SHORTFALL_SPREADS * uncertainty)
        for j in np.flatnonzero(valued):
            expected = planned[j] + (1.0 - planned[j]) * model.learn[q, j] * ready
            close = {
                "point": points[j].id,
                "mastery": round(float(planned[j]), 4),
                "expected": round(float(expected), 4),
                "target": round(float(raised[j]), 4),
            }
            needed_for = _dependents_short(model, catalog, j, planned, raised)
            if needed_for:
                close["needed_for"] = needed_for
            closes.append(close)
        closes.sort(key=lambda c: c["expected"] - c["mastery"], reverse=True)
        item["closes"] = closes
        item["waits_for"] = [
            {"point": points[r].id, "mastery": round(float(planned[r]), 4), "ready_at": threshold}
            for r in np.flatnonzero(model.requires[q] & (planned < threshold))
        ]
        before = planned.copy()
        planned = planned + (1.0 - planned) * model.learn[q] * ready
        item["unlocks"] = _unlocked(model, catalog, q, before, planned, raised, threshold)
        items.append(item)
    return items


def _dependents_short(model: Model, catalog: Catalog, j: int, mastery: np.ndarray, raised: np.ndarray) -> list[str]:
    """The points, still short of target, whose main modules all require point j (its dependents,
    `Model.dependents`, as the engine raises targets), largest gap first."""
    _, starts, points = model.dependents
    short = [d for d in points[starts[j] : starts[j + 1]] if raised[d] > mastery[d]]
    short = sorted(short, key=lambda d: mastery[d] - raised[d])  # largest gap first
    return [catalog.knowledge_points[d].id for d in short]


def _unlocked(
    model: Model,
    catalog: Catalog,
    q: int,
    before: np.ndarray,
    after: np.ndarray,
    raised: np.ndarray,
    threshold: float,
) -> list[str]:
    """Teaching modules whose main points are short of target that module q's expected learning
    makes ready (their weakest requirement reaches the threshold), at most three."""
    if threshold <= 0:
        return []
    main = main_points(model.coverage) & ~model.assessment[:, None]
    found = []
    for other in np.flatnonzero(model.requires[:, model.learn[q] > 0].any(axis=1)):
        required = model.requires[other]
        if other == q or not (main[other] & (raised > after)).any():
            continue
        if before[required].min() < threshold <= after[required].min():
            found.append(catalog.modules[other].id)
    return found[:3]


def _pct(value: float) -> str:
    return f"{round(value * 100)}%"


def reason(item: dict, catalog: Catalog, language: str = "en") -> str:
    """Sentences a learner can read: whether the module is mandatory for their role and by
    when, what it closes (and for which role module a prerequisite is needed), what it builds
    on or waits for, and what it unlocks."""
    zh = language.lower().startswith("zh")
    due = item.get("mandatory_due")  # the store adds it to a mandatory module not done
    mandatory = item.get("action") == "mandatory"  # first in the plan for its date
    if due:
        lead = f"岗位必修，{due} 截止。" if zh else f"Mandatory for your role: due {due}."
    elif mandatory:
        lead = "必修：你的角色要求完成此模块，截止日期临近。" if zh else "Mandatory for your role and due soon."
    else:
        lead = ""
    if mandatory:
        if _says_nothing(item):
            return lead
        item = {**item, "action": "assess" if "measures" in item else "learn"}
    text = _what_it_does(item, catalog, language, zh)
    if item.get("own_path"):
        text = _own_path(item["own_path"], catalog, language, zh) + ("" if zh else " ") + text
    return (lead + text if zh else f"{lead} {text}").strip()


def _own_path(own: list[str], catalog: Catalog, language: str, zh: bool) -> str:
    """Where the plan leads: the role's own points the item mainly trains."""
    index = catalog.point_index
    names = [catalog.knowledge_points[index[p]].name.get(language) if p in index else p for p in own[:2]]
    if zh:
        return "你岗位的专属方向（" + "、".join(f"「{n}」" for n in names) + "）。"
    return "Next on your role's own path (" + ", ".join(names) + ")."


def _what_it_does(item: dict, catalog: Catalog, language: str, zh: bool) -> str:
    kps = catalog.knowledge_points
    index = catalog.point_index

    def name(point: str) -> str:
        return kps[index[point]].name.get(language) if point in index else point

    def title(module: str) -> str:
        q = catalog.module_index.get(module)
        return catalog.modules[q].title.get(language) if q is not None else module

    if item.get("action") == "assess":
        measured = [name(m["point"]) for m in item.get("measures", [])[:3]]
        if zh:
            return (
                "测评：确认你在"
                + "、".join(f"「{n}」" for n in measured)
                + "上是否已达到目标（估计已达到，但把握不大）。"
            )
        return (
            "Assessment: checks whether you have reached the target on "
            + ", ".join(measured)
            + (" (estimated at or just above it, but uncertain).")
        )
    closes = item.get("closes", [])[:3]
    waits = item.get("waits_for", [])
    waiting = {w["point"] for w in waits}
    builds = [r for r in item.get("relies_on", []) if r["point"] not in waiting]
    unlocks = item.get("unlocks", [])
    if zh:
        parts = []
        for c in closes:
            part = f"将「{name(c['point'])}」从 {_pct(c['mastery'])} 提升到约 {_pct(c['expected'])}（目标 {_pct(c['target'])}"
            if c.get("needed_for"):
                part += "，" + "、".join(f"「{name(p)}」" for p in c["needed_for"][:2]) + "需要它"
            parts.append(part + "）")
        head = "复习：" if item.get("action") == "review" else ""
        text = head + "；".join(parts) + "。" if parts else ""
        if builds:
            text += (
                "建立在已掌握的"
                + "、".join(f"「{name(r['point'])}」（{_pct(r['mastery'])}）" for r in builds)
                + "之上。"
            )
        if waits:
            text += "前置知识" + "、".join(f"「{name(w['point'])}」（目前 {_pct(w['mastery'])}）" for w in waits)
            text += f"达到 {_pct(waits[0]['ready_at'])} 后学习效果最好，在此之前进展较慢。"
        if unlocks:
            text += "完成后可开始：" + "、".join(f"「{title(m)}」" for m in unlocks) + "。"
        return text
    parts = []
    for c in closes:
        part = (
            f"{name(c['point'])} from {_pct(c['mastery'])} to about {_pct(c['expected'])} (target {_pct(c['target'])}"
        )
        if c.get("needed_for"):
            part += ", needed for " + ", ".join(name(p) for p in c["needed_for"][:2])
        parts.append(part + ")")
    verb = "Review to win back" if item.get("action") == "review" else "Raises"
    text = f"{verb} " + "; ".join(parts) + "." if parts else ""
    if builds:
        text += " Builds on " + ", ".join(f"{name(r['point'])} ({_pct(r['mastery'])})" for r in builds) + "."
    if waits:
        text += " Works best once " + ", ".join(f"{name(w['point'])} (now {_pct(w['mastery'])})" for w in waits)
        text += f" reach {_pct(waits[0]['ready_at'])}; until then it teaches more slowly."
    if unlocks:
        text += " After this, " + ", ".join(title(m) for m in unlocks) + " opens up."
    return text


def _says_nothing(item: dict) -> bool:
    """A mandatory item that neither closes a gap nor decides one: its mandate is the reason."""
    return not item.get("closes") and not item.get("measures")


def render(item: dict, catalog: Catalog, language: str = "en") -> dict:
    """A stored recommendation with the module's title, method, minutes, link and reason."""
    module = catalog.modules[catalog.module_index[item["module"]]] if item["module"] in catalog.module_index else None
    rendered = dict(item)
    if module is not None:
        rendered.update(
            title=module.title.get(language),
            method=module.method,
            minutes=module.minutes,
            url=module.url,
        )
    rendered["reason"] = reason(item, catalog, language)
    return rendered
