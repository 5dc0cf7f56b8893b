"""Rasa-server side of the pain-clinic patient assistant and its shared domain logic.

Nothing in this package touches files or the network at import time: knowledge,
settings and the spaCy pipeline are loaded by explicit calls.
"""
