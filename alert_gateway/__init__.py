"""Alert gateway: Alertmanager webhooks to Slack, with on-call rotations."""

__version__ = "0.1.0"
