"""Explanations of matches: data (arrays plus what produced them), never pictures. No Qt here."""
