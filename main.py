"""Vitrina: ``python main.py`` opens the application; ``python main.py COMMAND ...`` runs the CLI."""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("gui", "--demo", "--theme") or argv[0].startswith("--theme=") \
            or argv[0].lower().rstrip("/\\").endswith(".vitrina"):  # a catalog: Shop.VITRINA, a path with a slash
        from gui.app import run_app

        return run_app(argv[1:] if argv and argv[0] == "gui" else argv)
    from core.cli import run
    from explain.cli import add_commands as explain_commands

    def more_commands(sub) -> None:
        explain_commands(sub)
        from gui.report_pdf import add_commands as report_commands  # Qt prints the PDF

        report_commands(sub)

    return run(argv, add_more=more_commands)


if __name__ == "__main__":
    sys.exit(main())
