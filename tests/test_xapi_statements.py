"""xAPI 1.0.3 statement validation, rule by rule: a table of valid and invalid statements
(each invalid one refused with its rule and JSON path, in statements and in SubStatements),
generated statements, and every real Moodle and Open edX statement accepted."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lti_tool.xapi.statements import StatementError, parse_statement
from xapi_shapes import (
    moodle_module_viewed,
    moodle_quiz_submitted,
    openedx_group_activity,
    openedx_problem_check,
    openedx_zero_weight_attempt,
    with_change,
)

NOW = 1_800_000_000.0
UUID = "9e13cefd-53d3-4eac-b5ed-2cf6693903bb"
SHA2 = "495395e777cd98da653df9615d09c0fd6bb2f8d4788394cd53c56a3bfdcd848a"
AGENT = {"objectType": "Agent", "name": "Kim Lee", "mbox": "mailto:kim@example.com"}
ANONYMOUS_GROUP = {"objectType": "Group", "member": [AGENT, {"openid": "http://openid.example.org/7"}]}
IDENTIFIED_GROUP = {"objectType": "Group", "name": "Team", "account": {"homePage": "http://example.com", "name": "t1"}}
VERB = {"id": "http://adlnet.gov/expapi/verbs/attempted", "display": {"en-US": "attempted"}}
ACTIVITY = {
    "objectType": "Activity",
    "id": "http://example.com/activities/quiz-1",
    "definition": {
        "name": {"en-US": "Quiz 1"},
        "description": {"en-US": "The first quiz"},
        "type": "http://adlnet.gov/expapi/activities/assessment",
        "moreInfo": "http://example.com/quiz-1/about",
        "extensions": {"http://example.com/ext/level": 3},
    },
}
RESULT = {
    "score": {"scaled": 0.5, "raw": 50, "min": 0, "max": 100},
    "success": True,
    "completion": True,
    "response": "b",
    "duration": "PT1H0M0.1S",
    "extensions": {"http://example.com/ext/tries": 2},
}
CONTEXT = {
    "registration": UUID,
    "instructor": AGENT,
    "team": IDENTIFIED_GROUP,
    "contextActivities": {
        "parent": [{"id": "http://example.com/course/1"}],
        "grouping": {"id": "http://example.com/program"},
    },
    "revision": "2",
    "platform": "Example LMS",
    "language": "en-US",
    "statement": {"objectType": "StatementRef", "id": UUID},
    "extensions": {"http://example.com/ext/room": "A1"},
}
ATTACHMENT = {
    "usageType": "http://example.com/attachment-usage/test",
    "display": {"en-US": "A test attachment"},
    "description": {"en-US": "What it holds"},
    "contentType": "text/plain; charset=ascii",
    "length": 27,
    "sha2": SHA2,
    "fileUrl": "http://example.com/file.txt",
}
FULL = {
    "id": UUID,
    "actor": AGENT,
    "verb": VERB,
    "object": ACTIVITY,
    "result": RESULT,
    "context": CONTEXT,
    "timestamp": "2026-03-10T15:31:41.123Z",
    "stored": "2026-03-10T15:31:42Z",
    "authority": {
        "objectType": "Group",
        "member": [{"account": {"homePage": "http://example.com/oauth", "name": "consumer"}}, AGENT],
    },
    "version": "1.0.3",
    "attachments": [ATTACHMENT],
}
SUBSTATEMENT = {
    "objectType": "SubStatement",
    "actor": AGENT,
    "verb": VERB,
    "object": ACTIVITY,
    "result": RESULT,
    "context": CONTEXT,
    "timestamp": "2026-03-10T15:31:41Z",
    "attachments": [ATTACHMENT],
}
# Revision and platform go with an Activity object only.
OUTER_CONTEXT = {k: v for k, v in CONTEXT.items() if k not in ("revision", "platform")}
WITH_SUBSTATEMENT = {**FULL, "object": SUBSTATEMENT, "context": OUTER_CONTEXT}
# No part shared between two places (a change must reach one place only).
FULL, WITH_SUBSTATEMENT = (json.loads(json.dumps(s)) for s in (FULL, WITH_SUBSTATEMENT))


def interaction(kind: str, **lists) -> dict:
    components = {
        key: [{"id": f"{key}-{i}", "description": {"en-US": f"{key} {i}"}} for i in range(n)]
        for key, n in lists.items()
    }
    return {
        "id": f"http://example.com/interactions/{kind}",
        "definition": {
            "type": "http://adlnet.gov/expapi/activities/cmi.interaction",
            "interactionType": kind,
            "correctResponsesPattern": ["0"],
            **components,
        },
    }


INTERACTIONS = {
    "true-false": {},
    "choice": {"choices": 3},
    "fill-in": {},
    "long-fill-in": {},
    "matching": {"source": 2, "target": 2},
    "performance": {"steps": 2},
    "sequencing": {"choices": 2},
    "likert": {"scale": 5},
    "numeric": {},
    "other": {},
}

# (case id, path from the statement, value ("-" deletes)), each valid in a statement and in a
# SubStatement (paths under result, context, object, verb, actor, timestamp, attachments).
VALID_CHANGES = (
    [
        ("minimal-activity", "object", {"id": "http://example.com/a"}),
        ("actor-no-object-type", "actor", {"mbox": "mailto:kim@example.com"}),
        ("actor-mbox-sha1sum", "actor", {"mbox_sha1sum": "cd9b00a5611f94eaa7b1661edab976068e364975"}),
        ("actor-openid", "actor", {"openid": "http://openid.example.org/12345"}),
        ("actor-account", "actor", {"account": {"homePage": "http://example.com", "name": "k"}}),
        ("actor-anonymous-group", "actor", ANONYMOUS_GROUP),
        ("actor-identified-group", "actor", IDENTIFIED_GROUP),
        ("actor-identified-group-members", "actor", {**IDENTIFIED_GROUP, "member": [AGENT]}),
        ("verb-no-display", "verb.display", "-"),
        (
            "display-many-tags",
            "verb.display",
            {
                tag: "x"
                for tag in (
                    "de",
                    "i-enochian",
                    "ine",
                    "zh-Hant",
                    "sr-Latn",
                    "zh-cmn-Hans-CN",
                    "sr-Latn-RS",
                    "sl-rozaj-biske",
                    "de-CH-1901",
                    "hy-Latn-IT-arevela",
                    "de-DE",
                    "az-Arab-x-AZE-derbend",
                    "x-whatever",
                    "es-419",
                    "en-a-bbb-x-a-ccc",
                    "und",
                )
            },
        ),
        ("definition-empty-strings", "object.definition.description", {"en-US": ""}),
        ("extension-null-values", "object.definition.extensions", {"http://example.com/null": None}),
        ("result-extension-null", "result.extensions", {"http://example.com/null": None}),
        ("context-extension-null", "context.extensions", {"http://example.com/null": None}),
        ("score-scaled-decimal", "result.score", {"scaled": 0.6767676}),
        ("score-scaled-minus-1", "result.score", {"scaled": -1.0}),
        ("score-scaled-1", "result.score", {"scaled": 1}),
        ("score-max-only", "result.score", {"max": 100.6767676}),
        ("score-min-only", "result.score", {"min": 0.6767676}),
        ("score-raw-anything", "result.score", {"raw": -12345.5}),
        ("score-raw-equals-max", "result.score", {"raw": 100, "min": 0, "max": 100}),
        ("duration-fraction", "result.duration", "PT4H35M59.14S"),
        ("duration-seconds", "result.duration", "PT16559.14S"),
        ("duration-all", "result.duration", "P3Y1M29DT4H35M59.14S"),
        ("duration-years", "result.duration", "P3Y"),
        ("duration-weeks", "result.duration", "P4W"),
        ("duration-comma", "result.duration", "PT0,5S"),
        ("result-empty", "result", {}),
        ("context-activities-single", "context.contextActivities", {"category": {"id": "http://example.com/c"}}),
        ("context-activities-other", "context.contextActivities", {"other": [{"id": "http://example.com/o"}]}),
        ("context-no-revision", "context.revision", "-"),
        ("timestamp-offset", "timestamp", "2026-03-10T15:31:41+05:30"),
        ("timestamp-basic-format", "timestamp", "20260310T153141Z"),
        ("timestamp-no-zone", "timestamp", "2026-03-10T15:31:41"),
        ("attachment-no-description", "attachments.0.description", "-"),
        ("attachments-empty", "attachments", []),
    ]
    + [(f"interaction-{kind}", "object", interaction(kind, **lists)) for kind, lists in INTERACTIONS.items()]
    + [
        (f"interaction-{kind}-without-components", "object", interaction(kind))
        for kind in ("choice", "sequencing", "likert", "matching", "performance")
    ]
)

# (case id, path, value, rule, field relative to the changed statement or SubStatement).
INVALID_CHANGES = [
    # 2.2: properties, case, nulls
    ("actor-name-null", "actor.name", None, "null_value", "actor.name"),
    ("display-value-null", "verb.display", {"en-US": None}, "language_map", "verb.display.en-US"),
    ("registration-null", "context.registration", None, "null_value", "context.registration"),
    ("more-info-null", "object.definition.moreInfo", None, "null_value", "object.definition.moreInfo"),
    ("actor-unknown-key", "actor.Name", "Kim", "unknown_property", "actor.Name"),
    ("verb-unknown-key", "verb.ID", "x", "unknown_property", "verb.ID"),
    ("activity-unknown-key", "object.ID", "x", "unknown_property", "object.ID"),
    ("definition-unknown-key", "object.definition.Type", "x", "unknown_property", "object.definition.Type"),
    ("result-unknown-key", "result.Success", True, "unknown_property", "result.Success"),
    ("score-unknown-key", "result.score.Raw", 1, "unknown_property", "result.score.Raw"),
    ("context-unknown-key", "context.Platform", "x", "unknown_property", "context.Platform"),
    (
        "account-unknown-key",
        "actor",
        {"account": {"homePage": "http://e.com", "name": "k", "id": 1}},
        "unknown_property",
        "actor.account.id",
    ),
    ("attachment-unknown-key", "attachments.0.url", "http://e.com", "unknown_property", "attachments[0].url"),
    # 2.4.2 actor
    ("actor-not-object", "actor", "kim", "agent", "actor"),
    ("actor-type-lowercase", "actor.objectType", "agent", "agent_object_type", "actor.objectType"),
    ("actor-type-group-lowercase", "actor.objectType", "group", "agent_object_type", "actor.objectType"),
    ("actor-name-not-string", "actor.name", 5, "agent_name", "actor.name"),
    ("actor-no-ifi", "actor.mbox", "-", "agent_identifier", "actor"),
    ("actor-two-ifis", "actor.openid", "http://openid.example.org/1", "agent_identifier", "actor"),
    ("mbox-no-mailto", "actor.mbox", "kim@example.com", "mbox", "actor.mbox"),
    ("mbox-no-at", "actor.mbox", "mailto:kim.example.com", "mbox", "actor.mbox"),
    ("mbox-empty", "actor.mbox", "", "mbox", "actor.mbox"),
    ("mbox-sha1sum-short", "actor", {"mbox_sha1sum": "cd9b00a5"}, "mbox_sha1sum", "actor.mbox_sha1sum"),
    ("openid-not-uri", "actor", {"openid": "not a uri"}, "openid", "actor.openid"),
    (
        "account-name-object",
        "actor",
        {"account": {"homePage": "http://e.com", "name": {"a": 1}}},
        "account",
        "actor.account.name",
    ),
    ("account-no-name", "actor", {"account": {"homePage": "http://e.com"}}, "account", "actor.account.name"),
    (
        "account-homepage-not-irl",
        "actor",
        {"account": {"homePage": "example", "name": "k"}},
        "account",
        "actor.account.homePage",
    ),
    ("account-not-object", "actor", {"account": "k"}, "type", "actor.account"),
    ("group-no-members", "actor", {"objectType": "Group"}, "group_member", "actor.member"),
    ("group-empty-anonymous", "actor", {"objectType": "Group", "member": []}, "group_member", "actor.member"),
    (
        "group-member-group",
        "actor",
        {"objectType": "Group", "member": [ANONYMOUS_GROUP]},
        "agent_object_type",
        "actor.member[0].objectType",
    ),
    (
        "group-member-bad-mbox",
        "actor",
        {"objectType": "Group", "member": [{"mbox": "x"}]},
        "mbox",
        "actor.member[0].mbox",
    ),
    ("group-two-ifis", "actor", {**IDENTIFIED_GROUP, "mbox": "mailto:t@example.com"}, "agent_identifier", "actor"),
    ("agent-with-members", "actor.member", [AGENT], "unknown_property", "actor.member"),
    # 2.4.3 verb
    ("verb-not-object", "verb", "attempted", "verb", "verb"),
    ("verb-no-id", "verb.id", "-", "verb_id", "verb.id"),
    ("verb-id-not-iri", "verb.id", "attempted", "verb_id", "verb.id"),
    ("display-empty", "verb.display", {}, "language_map", "verb.display"),
    ("display-string", "verb.display", "attempted", "language_map", "verb.display"),
    ("display-bad-tag", "verb.display", {"a12345": "x"}, "language_tag", "verb.display.a12345"),
    ("display-two-regions", "verb.display", {"de-419-DE": "x"}, "language_tag", "verb.display.de-419-DE"),
    ("display-singleton-first", "verb.display", {"a-DE": "x"}, "language_tag", "verb.display.a-DE"),
    (
        "display-repeated-extension",
        "verb.display",
        {"ar-a-aaa-b-bbb-a-ccc": "x"},
        "language_tag",
        "verb.display.ar-a-aaa-b-bbb-a-ccc",
    ),
    # 2.4.4 object
    ("object-type-lowercase", "object.objectType", "activity", "object_type", "object.objectType"),
    ("activity-no-id", "object.id", "-", "activity_id", "object.id"),
    ("activity-id-bad-scheme", "object.id", "ab=c://should.fail.com", "activity_id", "object.id"),
    ("definition-string", "object.definition", "x", "type", "object.definition"),
    ("definition-name-number", "object.definition.name", 12345, "language_map", "object.definition.name"),
    (
        "definition-description-string",
        "object.definition.description",
        "x",
        "language_map",
        "object.definition.description",
    ),
    (
        "definition-description-bad-tag",
        "object.definition.description",
        {"de-419-DE": "x"},
        "language_tag",
        "object.definition.description.de-419-DE",
    ),
    ("definition-type-not-iri", "object.definition.type", "assessment", "activity_type", "object.definition.type"),
    ("definition-more-info-not-irl", "object.definition.moreInfo", "about", "more_info", "object.definition.moreInfo"),
    ("definition-extensions-string", "object.definition.extensions", "x", "extensions", "object.definition.extensions"),
    (
        "definition-extension-key-not-iri",
        "object.definition.extensions",
        {"level": 3},
        "extension_key",
        "object.definition.extensions.level",
    ),
    (
        "interaction-type-case",
        "object",
        with_change(interaction("choice"), "definition.interactionType", "Choice"),
        "interaction_type",
        "object.definition.interactionType",
    ),
    (
        "interaction-type-iri",
        "object",
        with_change(interaction("choice"), "definition.interactionType", "http://e.com/choice"),
        "interaction_type",
        "object.definition.interactionType",
    ),
    (
        "interaction-type-number",
        "object",
        with_change(interaction("choice"), "definition.interactionType", 5),
        "interaction_type",
        "object.definition.interactionType",
    ),
    (
        "responses-not-strings",
        "object",
        with_change(interaction("choice"), "definition.correctResponsesPattern", [1]),
        "correct_responses",
        "object.definition.correctResponsesPattern",
    ),
    (
        "responses-without-type",
        "object",
        with_change(interaction("choice"), "definition.interactionType", "-"),
        "interaction_type",
        "object.definition.correctResponsesPattern",
    ),
    (
        "components-wrong-list",
        "object",
        interaction("performance", scale=2),
        "interaction_components",
        "object.definition.scale",
    ),
    (
        "components-not-list",
        "object",
        with_change(interaction("likert", scale=1), "definition.scale", {"id": "a"}),
        "interaction_components",
        "object.definition.scale",
    ),
    (
        "component-string",
        "object",
        with_change(interaction("choice", choices=1), "definition.choices.0", "a"),
        "type",
        "object.definition.choices[0]",
    ),
    (
        "component-no-id",
        "object",
        with_change(interaction("matching", source=1, target=1), "definition.target.0.id", "-"),
        "interaction_components",
        "object.definition.target[0].id",
    ),
    (
        "component-id-number",
        "object",
        with_change(interaction("choice", choices=1), "definition.choices.0.id", 7),
        "interaction_components",
        "object.definition.choices[0].id",
    ),
    (
        "component-ids-repeat",
        "object",
        with_change(interaction("choice", choices=2), "definition.choices.1.id", "choices-0"),
        "interaction_components",
        "object.definition.choices[1].id",
    ),
    (
        "component-description-string",
        "object",
        with_change(interaction("choice", choices=1), "definition.choices.0.description", "a"),
        "language_map",
        "object.definition.choices[0].description",
    ),
    (
        "component-description-bad-tag",
        "object",
        with_change(interaction("performance", steps=1), "definition.steps.0.description", {"a12345": "a"}),
        "language_tag",
        "object.definition.steps[0].description.a12345",
    ),
    ("statement-ref-bad-id", "object", {"objectType": "StatementRef", "id": "x"}, "uuid", "object.id"),
    (
        "statement-ref-extra",
        "object",
        {"objectType": "StatementRef", "id": UUID, "definition": {}},
        "unknown_property",
        "object.definition",
    ),
    ("voided-activity", "verb.id", "http://adlnet.gov/expapi/verbs/voided", "voided", "object"),
    # 2.4.5 result
    ("result-string", "result", "passed", "type", "result"),
    ("score-number", "result.score", 12345, "type", "result.score"),
    ("score-scaled-above", "result.score.scaled", 1.01, "score_scaled", "result.score.scaled"),
    ("score-scaled-below", "result.score.scaled", -1.00001, "score_scaled", "result.score.scaled"),
    ("score-max-string", "result.score.max", "100", "score_max", "result.score.max"),
    ("score-min-bool", "result.score.min", False, "score_min", "result.score.min"),
    ("score-raw-above-max", "result.score", {"raw": 0.68, "max": 0.66}, "score_raw", "result.score.raw"),
    ("score-raw-below-min", "result.score", {"raw": 0.68, "min": 1.4}, "score_raw", "result.score.raw"),
    ("score-min-above-max", "result.score", {"min": 0.7, "max": 0.69, "raw": 0.695}, "score_range", "result.score.min"),
    ("success-string", "result.success", "true", "result_success", "result.success"),
    ("completion-string", "result.completion", "false", "result_completion", "result.completion"),
    ("response-number", "result.response", 12345, "result_response", "result.response"),
    ("response-object", "result.response", {"a": 1}, "result_response", "result.response"),
    ("duration-letters", "result.duration", "PA1H0M0S", "duration", "result.duration"),
    ("duration-words", "result.duration", "should fail", "duration", "result.duration"),
    ("duration-number", "result.duration", 12345, "duration", "result.duration"),
    ("duration-empty-time", "result.duration", "P1DT", "duration", "result.duration"),
    ("duration-p-alone", "result.duration", "P", "duration", "result.duration"),
    ("result-extensions-string", "result.extensions", "x", "extensions", "result.extensions"),
    # 2.4.6 context
    ("context-string", "context", "x", "type", "context"),
    ("registration-string", "context.registration", "x", "uuid", "context.registration"),
    ("registration-object", "context.registration", {"a": 1}, "uuid", "context.registration"),
    ("instructor-string", "context.instructor", "x", "agent", "context.instructor"),
    ("instructor-no-ifi", "context.instructor", {"key": "x"}, "unknown_property", "context.instructor.key"),
    (
        "instructor-type-lowercase",
        "context.instructor.objectType",
        "agent",
        "agent_object_type",
        "context.instructor.objectType",
    ),
    (
        "instructor-account-name-object",
        "context.instructor",
        {"account": {"homePage": "http://e.com", "name": {}}},
        "account",
        "context.instructor.account.name",
    ),
    ("team-agent", "context.team", AGENT, "context_team", "context.team"),
    ("team-no-object-type", "context.team", {"member": [AGENT]}, "agent_object_type", "context.team.objectType"),
    ("team-string", "context.team", "x", "agent", "context.team"),
    ("context-activities-string", "context.contextActivities", "x", "context_activities", "context.contextActivities"),
    ("context-activities-empty", "context.contextActivities", {}, "context_activities", "context.contextActivities"),
    (
        "context-activities-kind",
        "context.contextActivities.sibling",
        [],
        "context_activities",
        "context.contextActivities.sibling",
    ),
    (
        "context-activity-no-id",
        "context.contextActivities.parent.0.id",
        "-",
        "activity_id",
        "context.contextActivities.parent[0].id",
    ),
    (
        "context-activity-bad-type",
        "context.contextActivities.grouping.objectType",
        "Agent",
        "activity_object_type",
        "context.contextActivities.grouping[0].objectType",
    ),
    ("revision-number", "context.revision", 12345, "context_revision", "context.revision"),
    ("platform-object", "context.platform", {"a": 1}, "context_platform", "context.platform"),
    ("language-number", "context.language", 12345, "language_tag", "context.language"),
    ("language-object", "context.language", {"a12345": "x"}, "language_tag", "context.language"),
    (
        "context-statement-type-case",
        "context.statement",
        {"objectType": "statementref", "id": UUID},
        "statement_ref",
        "context.statement.objectType",
    ),
    ("context-statement-bad-id", "context.statement.id", "x", "uuid", "context.statement.id"),
    ("context-statement-activity", "context.statement", ACTIVITY, "unknown_property", "context.statement.definition"),
    ("context-extensions-key", "context.extensions", {"room": "A1"}, "extension_key", "context.extensions.room"),
    ("revision-with-agent-object", "object", AGENT, "context_revision", "context.revision"),
    (
        "platform-with-statement-ref",
        "object",
        {"objectType": "StatementRef", "id": UUID},
        "context_revision",
        "context.revision",
    ),
    # 4.5 timestamps
    ("timestamp-words", "timestamp", "should fail", "timestamp", "timestamp"),
    ("timestamp-date", "timestamp", "01/011/2015", "timestamp", "timestamp"),
    ("timestamp-minus-00", "timestamp", "2008-09-15T15:53:00.601-00", "timestamp_offset", "timestamp"),
    ("timestamp-minus-0000", "timestamp", "2008-09-15T15:53:00.601-0000", "timestamp_offset", "timestamp"),
    ("timestamp-minus-00-00", "timestamp", "2008-09-15T15:53:00.601-00:00", "timestamp_offset", "timestamp"),
    ("timestamp-number", "timestamp", 1773153101, "timestamp", "timestamp"),
    # 2.4.11 attachments
    ("attachments-object", "attachments", ATTACHMENT, "attachments", "attachments"),
    ("attachment-number", "attachments", [12345], "type", "attachments[0]"),
    ("attachment-usage-type", "attachments.0.usageType", "x", "attachment", "attachments[0].usageType"),
    ("attachment-no-usage-type", "attachments.0.usageType", "-", "attachment", "attachments[0].usageType"),
    ("attachment-content-type", "attachments.0.contentType", "should fail", "attachment", "attachments[0].contentType"),
    ("attachment-length-string", "attachments.0.length", "27", "attachment", "attachments[0].length"),
    ("attachment-length-float", "attachments.0.length", 27.5, "attachment", "attachments[0].length"),
    ("attachment-sha2-number", "attachments.0.sha2", 12345, "attachment", "attachments[0].sha2"),
    ("attachment-sha2-short", "attachments.0.sha2", "abc", "attachment", "attachments[0].sha2"),
    ("attachment-file-url", "attachments.0.fileUrl", "x", "attachment", "attachments[0].fileUrl"),
    ("attachment-display-empty", "attachments.0.display", {}, "language_map", "attachments[0].display"),
    ("attachment-display-string", "attachments.0.display", "x", "language_map", "attachments[0].display"),
    ("attachment-description-number", "attachments.0.description", 1, "language_map", "attachments[0].description"),
    (
        "attachment-description-bad-tag",
        "attachments.0.description",
        {"de-419-DE": "x"},
        "language_tag",
        "attachments[0].description.de-419-DE",
    ),
]

# Only where the statement itself is meant (a SubStatement has none of these).
STATEMENT_ONLY_INVALID = [
    ("id-number", "id", 12345, "uuid", "id"),
    ("id-too-long", "id", "AA97B177-9383-4934-8543-0F91A7A028368", "uuid", "id"),
    ("id-bad-letter", "id", "MA97B177-9383-4934-8543-0F91A7A02836", "uuid", "id"),
    ("key-case-actor", "Actor", AGENT, "statement_property", "Actor"),
    ("key-case-attachments", "attachmentS", [ATTACHMENT], "statement_property", "attachmentS"),
    ("version-1-1", "version", "1.1.0", "version", "version"),
    ("version-number", "version", 1.0, "version", "version"),
    ("stored-not-timestamp", "stored", "yesterday", "timestamp", "stored"),
    ("authority-type-lowercase", "authority.objectType", "group", "agent_object_type", "authority.objectType"),
    ("authority-one-member", "authority.member", [AGENT], "authority", "authority"),
    ("authority-three-members", "authority.member", [AGENT, AGENT, AGENT], "authority", "authority"),
    (
        "authority-identified-group",
        "authority",
        {**IDENTIFIED_GROUP, "member": [AGENT, AGENT]},
        "authority",
        "authority",
    ),
    (
        "authority-account-name-object",
        "authority",
        {"account": {"homePage": "http://e.com", "name": 1}},
        "account",
        "authority.account.name",
    ),
    ("substatement-with-id", "object", {**SUBSTATEMENT, "id": UUID}, "substatement", "object.id"),
    ("substatement-with-version", "object", {**SUBSTATEMENT, "version": "1.0.3"}, "substatement", "object.version"),
    (
        "substatement-nested",
        "object",
        {**SUBSTATEMENT, "object": SUBSTATEMENT},
        "substatement",
        "object.object.objectType",
    ),
    (
        "substatement-type-case",
        "object",
        {**SUBSTATEMENT, "objectType": "substatement"},
        "object_type",
        "object.objectType",
    ),
    ("missing-actor", "actor", "-", "actor", "actor"),
    ("missing-verb", "verb", "-", "verb", "verb"),
    ("missing-object", "object", "-", "object", "object"),
]


def _cases(changes, base, prefix=""):
    for case_id, path, value, *expected in changes:
        yield pytest.param(with_change(base, prefix + path, value), *expected, id=case_id)


def _in_substatement(changes):
    """The same changes inside a SubStatement (its fields named from `object.`)."""
    for case_id, path, value, *expected in changes:
        if expected:
            rule, field = expected
            expected = [rule, "object." + field]
        yield (case_id, path, value, *expected)


def _rejected(statement) -> StatementError:
    with pytest.raises(StatementError) as caught:
        parse_statement(statement, "acme", NOW)
    return caught.value


@pytest.mark.parametrize("statement", [FULL, WITH_SUBSTATEMENT], ids=["statement", "substatement"])
def test_a_statement_using_every_property_is_valid(statement):
    parsed = parse_statement(copy.deepcopy(statement), "acme", NOW)
    assert parsed.id == UUID and parsed.deviations == ()


@pytest.mark.parametrize(
    "statement",
    [*_cases(VALID_CHANGES, FULL), *_cases(VALID_CHANGES, WITH_SUBSTATEMENT, "object.")],
)
def test_valid_statements_are_accepted(statement):
    parse_statement(statement, "acme", NOW)


@pytest.mark.parametrize(
    ("statement", "rule", "field"),
    [
        *_cases(INVALID_CHANGES, FULL),
        *_cases(_in_substatement(INVALID_CHANGES), WITH_SUBSTATEMENT, "object."),
        *_cases(STATEMENT_ONLY_INVALID, FULL),
    ],
)
def test_invalid_statements_are_refused_naming_the_rule_and_path(statement, rule, field):
    error = _rejected(statement)
    assert (error.rule, error.field) == (rule, field), error


@pytest.mark.parametrize(
    "target",
    [AGENT, ANONYMOUS_GROUP, IDENTIFIED_GROUP, {"objectType": "StatementRef", "id": UUID}, SUBSTATEMENT],
    ids=["agent", "anonymous-group", "identified-group", "statement-ref", "substatement"],
)
def test_objects_other_than_activities_are_valid_without_revision_or_platform(target):
    parse_statement({**FULL, "object": target, "context": OUTER_CONTEXT}, "acme", NOW)


def test_a_voiding_statement_needs_a_statement_ref():
    voiding = {
        **FULL,
        "verb": {"id": "http://adlnet.gov/expapi/verbs/voided"},
        "object": {"objectType": "StatementRef", "id": UUID},
    }
    del voiding["context"]  # revision and platform go with an Activity only
    parse_statement(voiding, "acme", NOW)


def test_repeated_empty_component_ids_are_a_counted_deviation():
    """logstore_xapi sends a lesson's true/false choices with empty ids (xAPI wants them distinct)."""
    statement = with_change(FULL, "object", interaction("choice", choices=2))
    for choice in statement["object"]["definition"]["choices"]:
        choice["id"] = ""
    assert parse_statement(statement, "acme", NOW).deviations == ("interaction_component_id_repeated",)


def test_an_attachment_without_file_url_needs_a_part():
    statement = with_change(FULL, "attachments.0.fileUrl", "-")
    assert parse_statement(statement, "acme", NOW).attachments == ((SHA2, True),)
    assert parse_statement(FULL, "acme", NOW).attachments == ((SHA2, False),)


# --- real LMS output ------------------------------------------------------------------------

SAMPLES = Path(__file__).parent / "data" / "moodle-4.5-xapi-batches.jsonl"


def _moodle_statements():
    for line in SAMPLES.read_text().splitlines():
        request = json.loads(line)
        for index, statement in enumerate(request["body"]):
            yield pytest.param(statement, id=f"{request['run']}-{request['n']}-{index}")


@pytest.mark.parametrize("statement", list(_moodle_statements()))
def test_every_real_moodle_statement_is_accepted(statement):
    parse_statement(statement, "acme", NOW)


@pytest.mark.parametrize(
    "statement",
    [
        moodle_quiz_submitted(),
        moodle_module_viewed(),
        openedx_problem_check("a", UUID),
        openedx_zero_weight_attempt("a", UUID),
        openedx_group_activity("a", UUID),
    ],
)
def test_lms_shaped_statements_are_accepted(statement):
    parse_statement(statement, "acme", NOW)


# --- generated statements ---------------------------------------------------------------------

_iris = st.sampled_from(
    [
        "http://example.com/a",
        "https://lms.example.org/mod/quiz/view.php?id=7",
        "urn:uuid:" + UUID,
        "tag:example.com,2026:x",
    ]
)
_tags = st.sampled_from(["en", "en-US", "zh-Hans-CN", "de-CH-1901", "x-private", "es-419"])
_maps = st.dictionaries(_tags, st.text(max_size=10), min_size=1, max_size=3)
_agents = st.one_of(
    st.builds(lambda n: {"account": {"homePage": "http://example.com", "name": n}}, st.text(min_size=1, max_size=8)),
    st.builds(
        lambda n: {"objectType": "Agent", "mbox": f"mailto:{n}@example.com"},
        st.from_regex(r"[a-z]{1,8}", fullmatch=True),
    ),
)
_activities = st.builds(
    lambda iri, name, kind: {"id": iri, "definition": {"name": name, "type": kind}},
    _iris,
    _maps,
    _iris,
)
_numbers = st.floats(-1, 1, allow_nan=False)
_results = st.fixed_dictionaries(
    {},
    optional={
        "score": st.builds(lambda s: {"scaled": s}, _numbers),
        "success": st.booleans(),
        "completion": st.booleans(),
        "response": st.text(max_size=5),
        "duration": st.sampled_from(["PT1S", "P1DT2H", "PT0.5S", "P2W"]),
    },
)
_statements = st.fixed_dictionaries(
    {"actor": _agents, "verb": st.builds(lambda i, d: {"id": i, "display": d}, _iris, _maps), "object": _activities},
    optional={
        "result": _results,
        "timestamp": st.sampled_from(["2026-01-01T00:00:00Z", "2025-06-30T12:00:00.5+02:00"]),
        "context": st.builds(
            lambda a, lang: {"contextActivities": {"parent": [a]}, "language": lang}, _activities, _tags
        ),
    },
)


@settings(max_examples=150, deadline=None)
@given(_statements)
def test_generated_valid_statements_are_accepted(statement):
    parse_statement(statement, "acme", NOW)


# What a JSON parser (orjson) can give: 64-bit integers, finite floats.
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8,
)
_paths = st.sampled_from(
    [
        "actor",
        "actor.mbox",
        "actor.objectType",
        "verb",
        "verb.id",
        "verb.display",
        "object",
        "object.id",
        "object.definition",
        "object.definition.name",
        "result",
        "result.score",
        "result.score.raw",
        "result.duration",
        "context",
        "context.contextActivities",
        "context.contextActivities.parent",
        "context.instructor",
        "context.statement",
        "timestamp",
        "attachments",
        "attachments.0",
        "attachments.0.length",
        "authority",
        "id",
        "version",
    ]
)


@settings(max_examples=300, deadline=None)
@given(_paths, _json, st.booleans())
def test_any_json_anywhere_is_accepted_or_refused_with_a_rule(path, value, nested):
    """No input makes the validator fail other than with a StatementError (no 500)."""
    base, prefix = (
        (WITH_SUBSTATEMENT, "object.") if nested and path not in ("id", "version", "authority") else (FULL, "")
    )
    try:
        parse_statement(with_change(base, prefix + path, value), "acme", NOW)
    except StatementError as exc:
        assert exc.rule and exc.message
