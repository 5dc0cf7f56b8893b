"""The project-built spaCy pipeline and the custom Rasa NLU components."""
