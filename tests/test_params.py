"""Parameter documents turned into the engine's Model."""

from __future__ import annotations

import dataclasses

import numpy as np

from core.catalog import engine_model, load_catalog
from core.params import model_from_parameters
from core.settings import ROOT

FITTED = ("prior", "guess", "slip", "half_life", "learn")


def test_fields_a_document_does_not_fit_keep_the_catalogs_values():
    catalog = load_catalog(ROOT / "config" / "catalog")
    base = engine_model(catalog)
    point = catalog.knowledge_points[0].id
    module = next(m for m in catalog.modules if point in m.coverage)
    document = {"schema": 1, "points": {point: {"prior": 0.42}}, "learn": {module.id: {point: 0.33}}}
    model = model_from_parameters(catalog, document)
    assert base.assessment.any()  # the shipped catalog has quizzes
    for field in dataclasses.fields(base):
        if field.name not in FITTED:
            np.testing.assert_array_equal(getattr(model, field.name), getattr(base, field.name), err_msg=field.name)
    assert model.prior[0] == 0.42 and base.prior[0] != 0.42
    assert model.learn[catalog.module_index[module.id], 0] == 0.33


def test_an_empty_document_is_the_catalogs_model():
    catalog = load_catalog(ROOT / "config" / "catalog")
    base, model = engine_model(catalog), model_from_parameters(catalog, {"schema": 1})
    for field in dataclasses.fields(base):
        np.testing.assert_array_equal(getattr(model, field.name), getattr(base, field.name), err_msg=field.name)
