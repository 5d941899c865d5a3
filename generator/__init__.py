"""obsgen: an observability stack generated from one service inventory."""

__version__ = "0.1.0"
