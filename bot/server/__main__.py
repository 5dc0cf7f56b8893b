"""``python -m bot.server <rasa arguments>``: the Rasa CLI with the project's hooks installed."""

from __future__ import annotations


def main() -> None:
    """Installs the hooks, then runs the Rasa CLI with this process's arguments."""
    from rasa.__main__ import main as rasa_main

    from bot.server import install_hooks

    install_hooks()
    rasa_main()


if __name__ == "__main__":
    main()
