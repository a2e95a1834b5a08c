"""The training catalog: its model, its loader and checker, and its arrays for the engine."""

from core.catalog.arrays import engine_model, own_points
from core.catalog.loader import CatalogError, Problem, check_catalog, load_catalog
from core.catalog.model import METHODS, Catalog, KnowledgePoint, Module, Names, Role

__all__ = [
    "METHODS",
    "Catalog",
    "CatalogError",
    "KnowledgePoint",
    "Module",
    "Names",
    "Problem",
    "Role",
    "check_catalog",
    "engine_model",
    "load_catalog",
    "own_points",
]
