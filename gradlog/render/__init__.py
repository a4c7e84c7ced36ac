"""Renderers: a list of Reports as terminal text, JSON, Markdown or HTML."""
