"""Why the tool refused a request: typed errors, each carrying its HTTP status and a
machine-readable reason, and the one handler that turns them into a page and a log line.

A refused launch is always a 4xx with a page that says what was wrong, never a 500
(pylti1p3 raises one LtiException for every failure, and a bare Exception for an unknown
client id; this module is what the tool uses instead)."""

from __future__ import annotations

import logging

import redis
from flask import Flask, render_template, request
from werkzeug.exceptions import HTTPException

from core.http import error_code

log = logging.getLogger("lti_tool")


class LtiError(Exception):
    status = 400
    reason = "bad_request"
    # What the person in front of the page can do about it.
    hint = "Go back to your course and open the activity again."
    relaunch_url: str | None = None  # offered as "open in a new window" when set

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# --- login and launch ---------------------------------------------------------------------


class MissingParameter(LtiError):
    reason = "missing_parameter"


class UnknownPlatform(LtiError):
    status = 403
    reason = "unknown_platform"
    hint = "Ask your LMS administrator to register this platform with SkillGap."


class UnknownClient(LtiError):
    status = 403
    reason = "unknown_client_id"
    hint = "Ask your LMS administrator to register this client id with SkillGap."


class UnknownDeployment(LtiError):
    status = 403
    reason = "unknown_deployment"
    hint = "Ask your LMS administrator to add this deployment to the SkillGap registration."


class ParameterTooLong(LtiError):
    reason = "parameter_too_long"


class BadTargetLink(LtiError):
    reason = "bad_target_link_uri"


class StateUnknown(LtiError):
    reason = "state_unknown"
    hint = "The launch took too long or was already used. Open the activity again from your course."


class CookiesRefused(LtiError):
    """The browser did not send back the cookie set at login: third-party cookies blocked."""

    status = 401
    reason = "cookies_refused"
    hint = "Your browser blocked the tool's cookie inside the course page. Open SkillGap in a new window."


class StateMismatch(LtiError):
    status = 403
    reason = "state_mismatch"


class MalformedToken(LtiError):
    status = 401
    reason = "malformed_id_token"


class AlgorithmNotAllowed(LtiError):
    status = 401
    reason = "alg_not_allowed"


class UnknownKey(LtiError):
    status = 401
    reason = "unknown_kid"


class PlatformKeysUnavailable(LtiError):
    status = 502
    reason = "platform_keys_unavailable"
    hint = "The LMS did not answer with its keys. Try again in a minute."


class BadSignature(LtiError):
    status = 401
    reason = "bad_signature"


class TokenExpired(LtiError):
    status = 401
    reason = "expired"


class IssuedInFuture(LtiError):
    status = 401
    reason = "iat_in_future"


class WrongAudience(LtiError):
    status = 401
    reason = "wrong_aud"


class WrongAuthorizedParty(LtiError):
    status = 401
    reason = "wrong_azp"


class WrongIssuer(LtiError):
    status = 401
    reason = "wrong_iss"


class NonceMismatch(LtiError):
    status = 401
    reason = "nonce_mismatch"


class ReplayedLaunch(LtiError):
    status = 401
    reason = "replayed_id_token"


class MissingClaim(LtiError):
    reason = "missing_claim"

    def __init__(self, claim: str, message: str | None = None):
        super().__init__(message or f"the id_token has no {claim} claim")
        self.claim = claim


class InvalidClaim(LtiError):
    reason = "invalid_claim"


class UnsupportedMessage(LtiError):
    reason = "unsupported_message_type"


class TooManyAttempts(LtiError):
    status = 429
    reason = "too_many_attempts"
    hint = "Too many launches with forged signatures came from your network. Wait a minute, then try again."

    def __init__(self, message: str, retry_after_s: int):
        super().__init__(message)
        self.retry_after_s = retry_after_s


# --- after the launch -------------------------------------------------------------------------


class LaunchExpired(LtiError):
    status = 401
    reason = "launch_expired"
    hint = "This page has expired. Open the activity again from your course."


class NotAllowed(LtiError):
    status = 403
    reason = "not_allowed"


class NotDeepLinking(LtiError):
    status = 403
    reason = "not_a_deep_linking_launch"
    hint = "Content can only be added from the LMS's 'add external tool content' selection."


class BadSelection(LtiError):
    reason = "bad_selection"


class BadBinding(LtiError):
    reason = "bad_binding"


# --- registration ------------------------------------------------------------------------------


class RegistrationFailed(LtiError):
    status = 502
    reason = "registration_failed"
    hint = "Check the LMS's registration URL and try again."


class RegistrationRefused(LtiError):
    status = 403
    reason = "registration_refused"
    hint = "Ask the SkillGap operator for a registration invite for your LMS."


def register_error_handler(app: Flask) -> None:
    @app.errorhandler(LtiError)
    def lti_error(exc: LtiError):
        # One line per refusal, key=value, so log search can count reasons.
        log.warning(
            "lti_refused reason=%s status=%d path=%s message=%r",
            exc.reason,
            exc.status,
            request.path,
            exc.message,
        )
        headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, TooManyAttempts) else {}
        return render_template("error.html", error=exc), exc.status, headers

    @app.errorhandler(redis.RedisError)
    def redis_error(exc: redis.RedisError):
        log.error("lti_refused reason=redis_unavailable status=503 path=%s error=%s", request.path, exc)
        error = LtiError("SkillGap's data store is unavailable; try again shortly.")
        error.status, error.reason = 503, "unavailable"
        return render_template("error.html", error=error), 503

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        error = LtiError(exc.description or exc.name)
        error.status, error.reason = exc.code or 500, error_code(exc)
        return render_template("error.html", error=error), error.status
