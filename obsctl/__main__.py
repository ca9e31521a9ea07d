"""``python -m obsctl`` runs the command-line interface."""

from obsctl.cli import main

if __name__ == "__main__":
    main()
