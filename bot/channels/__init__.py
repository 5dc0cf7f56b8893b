"""Rasa input channels of this project, named by module path in ``credentials.yml``.

- :mod:`bot.channels.web`: serves the chat widget, the demo clinic page and the
  clinic details the widget shows (``/webhooks/web/``).
- :mod:`bot.channels.socketio`: Rasa's socket.io channel plus an optional list
  of the websites allowed to connect (``cors_allowed_origins``).
"""


def install_server_hooks() -> None:
    """Installs the project's changes to the Rasa server (:mod:`bot.server`), once.

    Each channel calls this when Rasa builds it from the credentials file, which Rasa
    does before it configures its web app and loads the model: so ``rasa run`` with
    the project's credentials file gets every hook, however it is started.
    """
    from bot.server import install_hooks

    install_hooks()
