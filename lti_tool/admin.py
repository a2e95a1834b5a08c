"""What an LMS admin needs to install the tool: the JWKS, and a setup page with every URL (and the
public key set) to copy into the LMS when it has no Dynamic Registration."""

from __future__ import annotations

import json

from flask import Blueprint, jsonify, render_template

from lti_tool.web import LAUNCH_PATH, LOGIN_PATH, tool, tool_url

blueprint = Blueprint("admin", __name__)


@blueprint.get("/.well-known/jwks.json")
def jwks():
    response = jsonify(tool().signing.jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@blueprint.get("/lti/setup")
def setup():
    key_set = tool().signing.jwks()
    urls = [
        ("Tool URL / target link URI", tool_url(LAUNCH_PATH)),
        ("Initiate login URL", tool_url(LOGIN_PATH)),
        ("Redirection URI(s)", tool_url(LAUNCH_PATH)),
        ("Deep linking URL (content selection)", tool_url(LAUNCH_PATH)),
        ("Public keyset URL (JWKS)", tool_url("/.well-known/jwks.json")),
        ("Dynamic Registration URL", tool_url("/lti/register")),
    ]
    return render_template(
        "setup.html",
        language="en",
        urls=urls,
        jwks=json.dumps(key_set, indent=2),
        kids=[k["kid"] for k in key_set["keys"]],
    )
