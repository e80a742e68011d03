"""Vitrina's desktop application: the only package that imports Qt.

Nothing here imports torch, faiss, captum or llama_cpp at module level: the engine is imported
inside worker functions, so the window opens fast and GUI tests need no ML library.
"""


def plural(n: int, noun: str) -> str:
    """"1 cluster", "11 clusters" (Qt's %n plurals need a translation file: they read "1 clusters")."""
    return f"{n} {noun}{'' if n == 1 else 's'}"
