"""``python -m gradlog`` runs the command-line interface."""

from gradlog.cli import main

if __name__ == "__main__":  # pragma: no cover
    main()
