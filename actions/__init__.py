"""The rasa-sdk action server: thin actions over ``bot.replies``.

Start it with ``python -m actions`` (see ``actions/__main__.py``), which checks the
knowledge file and clinic settings before serving.
"""
