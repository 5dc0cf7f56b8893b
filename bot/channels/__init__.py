"""Rasa input channels of this project, named by module path in ``credentials.yml``.

- :mod:`bot.channels.web`: serves the chat widget, the demo clinic page and the
  clinic details the widget shows (``/webhooks/web/``).
- :mod:`bot.channels.socketio`: Rasa's socket.io channel plus an optional list
  of the websites allowed to connect (``cors_allowed_origins``).
"""
