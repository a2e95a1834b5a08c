"""Everything the tool builds once per process (in create_app) and its views share."""

from __future__ import annotations

from dataclasses import dataclass

from core.services import Services
from lti_tool.activity import ModuleLinks
from lti_tool.course_binding import CourseBinding
from lti_tool.grades import ScoreQueue
from lti_tool.invites import InviteStore
from lti_tool.outbound import Outbound
from lti_tool.platform_keys import PlatformKeySets
from lti_tool.platform_services import PlatformServices
from lti_tool.redis_keys import LtiKeys
from lti_tool.registrations import RegistrationStore
from lti_tool.roles import parse_role_map
from lti_tool.sessions import SessionStore
from lti_tool.signing import SigningKeys


@dataclass(frozen=True)
class Tool:
    services: Services
    lti_keys: LtiKeys
    signing: SigningKeys
    registrations: RegistrationStore
    platform_keys: PlatformKeySets
    sessions: SessionStore
    module_links: ModuleLinks
    binding: CourseBinding
    platform: PlatformServices
    scores: ScoreQueue
    role_map: dict[str, str]
    invites: InviteStore
    outbound: Outbound


def build_tool(services: Services) -> Tool:
    settings = services.settings
    client = services.redis
    lti_keys = LtiKeys(services.keys)
    outbound = Outbound(
        deadline_s=settings.lti_http_timeout_s,
        max_bytes=settings.outbound_max_bytes,
        allow_private=settings.allow_private_network,
        http_hosts=settings.outbound_http_hosts.split(","),
    )
    signing = SigningKeys(client, lti_keys, settings.lti_key_grace_days * 86_400, services.sealer)
    platform = PlatformServices(client, lti_keys, signing, outbound)
    registrations = RegistrationStore(client, lti_keys)
    return Tool(
        services=services,
        lti_keys=lti_keys,
        signing=signing,
        registrations=registrations,
        platform_keys=PlatformKeySets(
            client,
            lti_keys,
            outbound,
            cache_s=settings.lti_jwks_cache_s,
            refetch_s=settings.lti_jwks_refetch_s,
        ),
        sessions=SessionStore(client, lti_keys, settings.lti_state_ttl_s, settings.lti_launch_ttl_s),
        module_links=ModuleLinks(client, lti_keys),
        binding=CourseBinding(client, lti_keys),
        platform=platform,
        scores=ScoreQueue(
            client, lti_keys, platform, registrations, settings.ags_retry_base_s, settings.ags_retry_max_s
        ),
        role_map=parse_role_map(settings.lti_role_map, services.catalog),
        invites=InviteStore(client, lti_keys),
        outbound=outbound,
    )
