"""Dashboard specifications rendered to Grafana JSON."""
