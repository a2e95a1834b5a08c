"""Deep Linking 2.0: an instructor's LtiDeepLinkingRequest shows a picker — the "My next modules"
widget and the catalog's modules — and the choice goes back to the platform as a signed
LtiDeepLinkingResponse. Items carry custom parameters (not query strings), so every launch of
an item names its module (and binds it in its course); the widget gets SkillGap's progress
column when the instructor asks for one, a module never gets one."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from pylti1p3.deep_link import DeepLink
from pylti1p3.deep_link_resource import DeepLinkResource
from pylti1p3.lineitem import LineItem
from pylti1p3.registration import Registration as LibRegistration

from lti_tool import claims as c
from lti_tool.errors import BadSelection, LaunchExpired, NotDeepLinking
from lti_tool.grades import PROGRESS_RESOURCE, SCORE_MAXIMUM
from lti_tool.i18n import text
from lti_tool.sessions import BROWSER_COOKIE, LaunchSession
from lti_tool.web import LAUNCH_PATH, tool, tool_url

blueprint = Blueprint("deep_linking", __name__)

WIDGET = "widget"


def _settings(session: LaunchSession) -> dict:
    return c.section(session.claims, c.DEEP_LINKING_SETTINGS)


def picker_page(launch_id: str, session: LaunchSession) -> str:
    catalog = tool().services.catalog
    language = session.language
    settings = _settings(session)
    modules = [
        {"id": m.id, "title": m.title.get(language), "method": m.method, "minutes": m.minutes} for m in catalog.modules
    ]
    return render_template(
        "picker.html",
        t=lambda key, **values: text(key, language, **values),
        language=language,
        action=f"/lti/launches/{launch_id}/deep-link",
        modules=modules,
        multiple=settings.get("accept_multiple", True) not in (False, "false"),
        offer_lineitem=settings.get("accept_lineitem", True) not in (False, "false"),
    )


def content_items(selected: list[str], with_lineitem: bool, language: str) -> list[DeepLinkResource]:
    """Validate the picker's choice against the catalog (no side effects)."""
    catalog = tool().services.catalog
    launch_url = tool_url(LAUNCH_PATH)
    items = []
    for choice in selected:
        if choice == WIDGET:
            title, custom, resource = text("next_modules", language), {c.CUSTOM_VIEW: "next-modules"}, PROGRESS_RESOURCE
        elif choice in catalog.module_index:
            module = catalog.modules[catalog.module_index[choice]]
            title, custom, resource = module.title.get(language), {c.CUSTOM_MODULE: module.id}, module.id
        else:
            raise BadSelection(f"{choice!r} is neither the widget nor a module of the catalog")
        item = DeepLinkResource().set_title(title).set_url(launch_url).set_custom_params(custom)
        # Only the widget gets a column: the tool grades nothing else, and a module's grade is
        # the LMS's own activity's (issue 16: the gradebook holds only SkillGap's column).
        if with_lineitem and choice == WIDGET:
            item.set_lineitem(
                LineItem({"scoreMaximum": SCORE_MAXIMUM, "label": title, "resourceId": resource, "tag": resource})
            )
        items.append(item)
    return items


@blueprint.post("/lti/launches/<launch_id>/deep-link")
def respond(launch_id: str):
    session = tool().sessions.launch(launch_id, request.cookies.get(BROWSER_COOKIE))
    if session is None:
        raise LaunchExpired("this selection page has expired; start adding the activity again")
    if session.message_type != c.DEEP_LINKING_REQUEST:
        raise NotDeepLinking(f"launch {session.message_type} did not ask for content: there is nothing to answer")
    settings = _settings(session)
    selected = request.form.getlist("item")
    if len(selected) > 1 and settings.get("accept_multiple") in (False, "false"):
        raise BadSelection("the platform accepts one item only: choose one")
    items = content_items(selected, request.form.get("lineitem") == "1", session.language)
    registration = LibRegistration().set_issuer(session.issuer).set_client_id(session.client_id)
    message = DeepLink(registration, session.deployment_id, settings).get_message_jwt(items)
    if message.get("https://purl.imsglobal.org/spec/lti-dl/claim/data") is None:
        # DL 2.0 §4.2: data is echoed only when the request carried it.
        message.pop("https://purl.imsglobal.org/spec/lti-dl/claim/data")
    return render_template(
        "deep_link_return.html",
        return_url=settings["deep_link_return_url"],
        jwt=tool().signing.sign(message),
        count=len(items),
    )
