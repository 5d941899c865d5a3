"""Jinja2 templates for the files obsgen renders."""
