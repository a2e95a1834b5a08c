"""The xAPI intake builds its events as trusted (core.events.trusted_event): every event it
can build from a valid statement must pass parse_event unchanged, the one statement of the
envelope's rules."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from core.catalog import load_catalog
from core.catalog.model import DEFAULT_XAPI_VERBS
from core.events import Event, parse_event
from core.identity import learner_pseudonym
from core.settings import ROOT
from core.wire import encode
from lti_tool.xapi.credentials import Credential
from lti_tool.xapi.intake import statement_event
from lti_tool.xapi.mapping import Meaning, StatementMapper
from lti_tool.xapi.statements import StatementError, parse_statement
from xapi_shapes import MOODLE, moodle_quiz_submitted

CATALOG = load_catalog(ROOT / "config" / "catalog")
MAPPER = StatementMapper(CATALOG)
CREDENTIAL = Credential("sgx_test", "acme", "moodle", MOODLE)
NOW = 1_790_000_000.0
ACTIVITIES = [module.url for module in CATALOG.modules if module.url]
# Characters an IRI may hold, and some it may not (the validator must refuse those).
IRI_TEXT = st.text(st.characters(blacklist_categories=("Cs",), max_codepoint=0x2FFF), min_size=1, max_size=200)


def _as_parsed(event: Event) -> Event:
    return parse_event(encode(event), tenant=event.tenant, catalog=CATALOG, now=NOW)


@st.composite
def scores(draw) -> dict:
    """result.score: scaled only, a raw score within its range, a 0-point problem, or none."""
    low = draw(st.floats(-1e6, 1e6))
    high = low + draw(st.floats(1e-3, 1e6))
    return draw(
        st.one_of(
            st.just({}),
            st.just({"min": 0, "max": 0, "raw": 0}),
            st.fixed_dictionaries({"scaled": st.floats(-1, 1)}),
            st.fixed_dictionaries({"min": st.just(low), "max": st.just(high), "raw": st.floats(low, high)}),
        )
    )


@st.composite
def statements(draw) -> dict:
    """Moodle-shaped statements across the verbs, results, timestamps (some ahead of the
    clock, some without a time zone) and course ids (some no IRI may hold) of the mapping."""
    statement = moodle_quiz_submitted()
    statement["verb"] = {"id": draw(st.sampled_from(sorted(DEFAULT_XAPI_VERBS)))}
    statement["object"]["id"] = draw(st.sampled_from(ACTIVITIES))
    result = {"score": draw(scores())}
    for flag in ("success", "completion"):
        result[flag] = draw(st.sampled_from([None, True, False]))
    statement["result"] = {key: value for key, value in result.items() if value not in (None, {})}
    when = datetime.fromtimestamp(draw(st.floats(1.0, NOW + 10 * 86_400)), UTC)
    statement["timestamp"] = draw(st.sampled_from([when.isoformat(), when.replace(tzinfo=None).isoformat()]))
    course = draw(
        st.one_of(
            st.builds(lambda c: f"{MOODLE}/course/view.php?id={c}", IRI_TEXT),
            st.builds(lambda c: f"https://openedx.example.com/course/{c}", IRI_TEXT),
        )
    )
    statement["context"]["contextActivities"]["grouping"][1]["id"] = course
    return statement


@settings(max_examples=400, deadline=None)
@given(statement=statements(), user=st.text("0123456789abcdef", min_size=1, max_size=12))
def test_every_event_built_from_a_valid_statement_passes_parse_event(statement, user):
    try:
        parsed = parse_statement(statement, "acme", NOW)
    except StatementError:
        return  # refused with its rule: no event
    meaning = MAPPER.meaning(parsed)
    if not isinstance(meaning, Meaning):
        return  # counted, no event
    event = statement_event(parsed, meaning, learner_pseudonym(b"k" * 32, MOODLE, user), CREDENTIAL)
    assert _as_parsed(event) == event
