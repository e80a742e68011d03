"""One error hierarchy for the whole application.

Every message says what went wrong *and what the user can do about it*; the GUI shows
``str(error)`` as it is, the CLI prints it and exits non-zero.
"""
from __future__ import annotations


class AppError(Exception):
    """Base of every error Vitrina raises on purpose."""


class CatalogError(AppError):
    """The catalog file is missing, unreadable, from a newer version, or an operation on it failed."""


class ImportFailed(AppError):
    """An import cannot start at all (bad mapping, unreadable source file).

    Problems with single rows or images never raise: they are collected in the import report.
    """


class BadImage(AppError):
    """An image cannot be used; ``reason`` is a short machine-friendly code, the message is for people."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


class IndexMismatch(AppError):
    """A saved vector index does not match the catalog or the encoder it is loaded for."""


class EncoderError(AppError):
    """An encoder's weights are missing or unusable."""


class QueryError(AppError):
    """A search request is invalid (no image and no text, bad weight, unknown filter field)."""


class Cancelled(AppError):
    """A long task was cancelled by the user."""


def user_message(exc: BaseException) -> str:
    """What to tell the user of an exception that reached the top (the CLI's exit, a window task's error): an
    AppError's own message; SQLite's errors said as what they mean for the catalog, not as a traceback."""
    import sqlite3

    text = str(exc) or type(exc).__name__
    if isinstance(exc, sqlite3.OperationalError):  # the file's place or its lock, not its content
        if "locked" in text or "busy" in text:
            return (f"The catalog is busy: another Vitrina (an import, a re-index, learning) is writing it ({text}). "
                    "Try again when it is done.")
        return f"The catalog could not be read or written ({text}): check the disk and the file's permissions."
    if isinstance(exc, sqlite3.DatabaseError):
        return (f"The catalog is damaged ({text}). Restore a backup of it, or import the products again into a new "
                "catalog; Vitrina did not change it further.")
    return text
