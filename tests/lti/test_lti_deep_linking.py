"""Deep linking round trip with Open edX's consumer: picker, signed response verified by the
platform against the tool's JWKS, items with custom parameters and line items, and their launches."""

from __future__ import annotations

import re

import jwt
from edx_platform import Browser, first_form

from lti_tool import claims as c


def open_picker(platform) -> tuple[Browser, str]:
    browser = Browser()
    page = browser.launch(platform.begin("teacher-dl", "staff", message_type="LtiDeepLinkingRequest"))
    assert page.status_code == 200, page.text
    return browser, page.text


def test_picker_lists_the_widget_and_every_module(tool_server, registered):
    _, page = open_picker(registered)
    catalog = tool_server.services.catalog
    assert 'value="widget"' in page
    assert all(f'value="{m.id}"' in page for m in catalog.modules)
    assert 'name="lineitem"' in page


def test_round_trip_creates_items_with_custom_parameters_and_line_items(tool_server, registered):
    browser, page = open_picker(registered)
    action, _ = first_form(page)
    answer = browser.http.post(
        tool_server.url + action, data=[("item", "widget"), ("item", "m-prompt-basics"), ("lineitem", "1")]
    )
    assert answer.status_code == 200, answer.text
    return_url, fields = first_form(answer.text)
    assert return_url == registered.url + "/deep-link-return"
    header = jwt.get_unverified_header(fields["JWT"])
    assert header["kid"] == tool_server.tool.signing.current().kid and header["alg"] == "RS256"
    saved = browser.http.post(return_url, data=fields)  # the platform verifies it with the tool's JWKS
    assert saved.json() == {"saved": 2}

    widget, module = registered.deep_link_items
    assert widget["type"] == module["type"] == "ltiResourceLink"
    assert widget["url"] == module["url"] == tool_server.url + "/lti/launch"
    assert widget["custom"] == {c.CUSTOM_VIEW: "next-modules"}
    assert module["custom"] == {c.CUSTOM_MODULE: "m-prompt-basics"} and module["title"] == "Prompt engineering basics"
    # Only SkillGap's own column: the widget's progress; a module gets none (issue 16).
    assert widget["lineItem"] == {
        "scoreMaximum": 100.0,
        "label": "Your next modules",
        "resourceId": "skillgap-progress",
        "tag": "skillgap-progress",
    }
    assert "lineItem" not in module
    claims = jwt.decode(fields["JWT"], options={"verify_signature": False})
    assert claims["iss"] == registered.client_id and claims["aud"] == [registered.issuer]
    assert claims[c.DEPLOYMENT_ID] == registered.deployment_id and claims[c.MESSAGE_TYPE] == "LtiDeepLinkingResponse"

    # Launching the created item opens its module.
    launched = Browser().launch(registered.begin("learner-dl", custom=module["custom"]))
    assert "You opened: Prompt engineering basics" in launched.text


def test_no_line_item_unless_asked(tool_server, registered):
    browser, page = open_picker(registered)
    action, _ = first_form(page)
    answer = browser.http.post(tool_server.url + action, data=[("item", "m-llm-intro")])
    return_url, fields = first_form(answer.text)
    browser.http.post(return_url, data=fields)
    [item] = registered.deep_link_items
    assert "lineItem" not in item


def test_an_item_outside_the_catalog_is_refused(tool_server, registered):
    browser, page = open_picker(registered)
    action, _ = first_form(page)
    answer = browser.http.post(tool_server.url + action, data=[("item", "m-not-in-catalog")])
    assert answer.status_code == 400 and "bad_selection" in answer.text


def test_a_deep_linking_response_to_a_resource_link_launch_is_refused(tool_server, registered):
    Browser().launch(registered.begin("student-rl"))
    tool_server.drain()
    browser = Browser()
    page = browser.launch(registered.begin("teacher-rl", "staff")).text
    launch_id = re.search(r"/lti/launches/([^/]+)/gaps.csv", page).group(1)
    answer = browser.http.post(f"{tool_server.url}/lti/launches/{launch_id}/deep-link", data=[("item", "widget")])
    assert answer.status_code == 403 and "not_a_deep_linking_launch" in answer.text


def test_an_expired_picker_is_refused(tool_server):
    answer = Browser().http.post(tool_server.url + "/lti/launches/unknown/deep-link", data=[("item", "widget")])
    assert answer.status_code == 401 and "launch_expired" in answer.text
