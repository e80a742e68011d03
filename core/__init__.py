"""Vitrina's retrieval engine: catalog, encoders, vector index, search, evaluation. No Qt here."""

__version__ = "0.1.0"
