"""Module effectiveness: the learning rate each module earns on each point it covers."""

from __future__ import annotations

from flask import Blueprint

from core.params import module_effectiveness
from sidecar.api.context import authenticate, parameters, services

blueprint = Blueprint("modules", __name__)
blueprint.before_request(authenticate)


@blueprint.get("/modules/effectiveness")
def effectiveness():
    active = parameters()
    if active.version is None:
        source = "catalog: no fitted parameter version yet; rates are the catalog's, with no uncertainty"
    else:
        source = f"fitted parameter version {active.version}"
    return {"parameters": active.version, "source": source, "modules": module_effectiveness(services().catalog, active)}
