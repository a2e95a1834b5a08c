"""Claim names of LTI 1.3 and LTI Advantage, and small readers for the ones the tool uses."""

from __future__ import annotations

from typing import Any

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
MESSAGE_TYPE = LTI + "message_type"
VERSION = LTI + "version"
DEPLOYMENT_ID = LTI + "deployment_id"
ROLES = LTI + "roles"
RESOURCE_LINK = LTI + "resource_link"
CONTEXT = LTI + "context"
CUSTOM = LTI + "custom"
LAUNCH_PRESENTATION = LTI + "launch_presentation"
TOOL_PLATFORM = LTI + "tool_platform"
LIS = LTI + "lis"
DEEP_LINKING_SETTINGS = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
AGS_ENDPOINT = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"

RESOURCE_LINK_REQUEST = "LtiResourceLinkRequest"
DEEP_LINKING_REQUEST = "LtiDeepLinkingRequest"

SCOPE_LINEITEM = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
SCOPE_LINEITEM_READONLY = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
SCOPE_RESULT_READONLY = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
SCOPE_SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
SCOPE_NRPS = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"

# Custom parameters the tool reads (set by its deep-linking items, or by an LMS admin).
CUSTOM_MODULE = "skillgap_module"
CUSTOM_VIEW = "skillgap_view"
CUSTOM_ROLE = "skillgap_role"


def section(claims: dict[str, Any], name: str) -> dict[str, Any]:
    value = claims.get(name)
    return value if isinstance(value, dict) else {}


def custom(claims: dict[str, Any]) -> dict[str, str]:
    return {k: v for k, v in section(claims, CUSTOM).items() if isinstance(v, str)}


def context_id(claims: dict[str, Any]) -> str | None:
    value = section(claims, CONTEXT).get("id")
    return str(value) if value not in (None, "") else None


def resource_link_id(claims: dict[str, Any]) -> str | None:
    value = section(claims, RESOURCE_LINK).get("id")
    return str(value) if value not in (None, "") else None


def language(claims: dict[str, Any]) -> str:
    """English or Chinese, from the launch locale (en, en-US, zh-CN, zh_cn, zh-Hant...)."""
    locale = str(section(claims, LAUNCH_PRESENTATION).get("locale") or "en")
    return "zh" if locale.lower().startswith("zh") else "en"


def ags_scopes(claims: dict[str, Any]) -> set[str]:
    scopes = section(claims, AGS_ENDPOINT).get("scope")
    return {s for s in scopes if isinstance(s, str)} if isinstance(scopes, list) else set()
