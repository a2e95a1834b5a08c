"""Why a module is recommended. Workers store each learner's ranking compact; readers explain
it from the learner's state as of the ranking's time (the same numbers the engine ranked on)
and render a sentence in the reader's language."""

from __future__ import annotations

import numpy as np

from engine import Action, Model
from core.catalog import Catalog


def recommendation_items(
    catalog: Catalog,
    model: Model,
    ranking: dict[str, list],
    mastery: np.ndarray,
    uncertainty: np.ndarray,
    targets: np.ndarray,
    uncertainty_threshold: float,
) -> list[dict]:
    """One learner's stored ranking, explained: what each module closes (teaching modules) or
    measures (assessments: the points it tests whose uncertainty is at least the threshold,
    as the engine values them), and the required points it relies on. `mastery` and
    `uncertainty` (M,) are the learner's belief as of the ranking's time."""
    points = catalog.knowledge_points
    items = []
    for position, module_id in enumerate(ranking.get("module", ())):
        q = catalog.module_index[module_id]  # the store drops modules no longer in the catalog
        action = ranking["action"][position]
        closes, measures = [], []
        if action == Action.ASSESS.name.lower():
            for j in np.flatnonzero((model.coverage[q] > 0) & (targets > 0) & (uncertainty >= uncertainty_threshold)):
                measures.append(
                    {"point": points[j].id, "mastery": round(float(mastery[j]), 4),
                     "uncertainty": round(float(uncertainty[j]), 4)}
                )  # fmt: skip
            measures.sort(key=lambda m: m["uncertainty"], reverse=True)
        else:
            for j in np.flatnonzero((model.learn[q] > 0) & (targets > mastery)):
                expected = mastery[j] + (1.0 - mastery[j]) * model.learn[q, j]
                closes.append(
                    {"point": points[j].id, "mastery": round(float(mastery[j]), 4),
                     "expected": round(float(expected), 4), "target": round(float(targets[j]), 4)}
                )  # fmt: skip
            closes.sort(key=lambda c: c["expected"] - c["mastery"], reverse=True)
        item = {
            "module": module_id,
            "action": action,
            "expected_gain": round(float(ranking["gain"][position]), 6),
            "gain_per_hour": round(float(ranking["per_minute"][position]) * 60.0, 6),
            "closes": closes,
            "relies_on": [
                {"point": points[j].id, "mastery": round(float(mastery[j]), 4)} for j in np.flatnonzero(model.requires[q])
            ],
        }
        if action == Action.ASSESS.name.lower():
            item["information"] = round(float(ranking["information"][position]), 6)
            item["measures"] = measures
        items.append(item)
    return items


def _pct(value: float) -> str:
    return f"{round(value * 100)}%"


def reason(item: dict, catalog: Catalog, language: str = "en") -> str:
    """One or two sentences a learner can read: what the module closes and what it builds on."""
    zh = language.lower().startswith("zh")
    kps = catalog.knowledge_points
    index = catalog.point_index

    def name(point: str) -> str:
        return kps[index[point]].name.get(language) if point in index else point

    closes = item.get("closes", [])[:3]
    relies = item.get("relies_on", [])
    if item.get("action") == "assess":
        measured = [name(m["point"]) for m in item.get("measures", [])[:3]]
        if zh:
            return "测评：确认你对" + "、".join(f"「{n}」" for n in measured) + "的掌握程度（目前把握不大）。"
        return "Assessment: finds out where you stand on " + ", ".join(measured) + " (your mastery there is uncertain)."
    if zh:
        parts = [
            f"将「{name(c['point'])}」从 {_pct(c['mastery'])} 提升到约 {_pct(c['expected'])}（目标 {_pct(c['target'])}）"
            for c in closes
        ]
        head = "复习：" if item.get("action") == "review" else ""
        text = head + "；".join(parts) + "。"
        if relies:
            text += "前置知识已具备：" + "、".join(f"「{name(r['point'])}」（{_pct(r['mastery'])}）" for r in relies) + "。"
        return text
    parts = [
        f"{name(c['point'])} from {_pct(c['mastery'])} to about {_pct(c['expected'])} "
        f"(target {_pct(c['target'])})"
        for c in closes
    ]
    verb = "Review to win back" if item.get("action") == "review" else "Raises"
    text = f"{verb} " + "; ".join(parts) + "."
    if relies:
        text += " Builds on what you already master: " + ", ".join(
            f"{name(r['point'])} ({_pct(r['mastery'])})" for r in relies
        ) + "."
    return text


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
