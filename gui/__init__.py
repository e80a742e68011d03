"""Vitrina's desktop application: the only package that imports Qt.

Nothing here imports torch, faiss, captum or llama_cpp at module level: the engine is imported
inside worker functions, so the window opens fast and GUI tests need no ML library.
"""
