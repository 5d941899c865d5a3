"""The gateway's Prometheus metrics, held in a registry of their own."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Delivery is seconds when Slack is healthy and minutes while it is down.
_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)


class GatewayMetrics:
    """Counters of what happened to notifications, the queue depth and latency."""

    def __init__(self, queue_depth: Callable[[], float] | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.received = Counter(
            "alert_gateway_notifications_received",
            "Valid webhook notifications received from Alertmanager.",
            registry=self.registry,
        )
        self.deduplicated = Counter(
            "alert_gateway_notifications_deduplicated",
            "Notifications recognised as already stored (retries, HA twins).",
            registry=self.registry,
        )
        self.delivered = Counter(
            "alert_gateway_notifications_delivered",
            "Notifications whose content reached Slack.",
            registry=self.registry,
        )
        self.retried = Counter(
            "alert_gateway_delivery_retries",
            "Slack calls that failed and will be tried again, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.dead_lettered = Counter(
            "alert_gateway_notifications_dead_lettered",
            "Notifications moved to the dead-letter table, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.escalations = Counter(
            "alert_gateway_escalations",
            "Escalation replies posted mentioning the secondary on call.",
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "alert_gateway_queue_depth",
            "Notifications stored and not yet delivered or dead-lettered.",
            registry=self.registry,
        )
        if queue_depth is not None:
            self.queue_depth.set_function(queue_depth)
        self.delivery_latency = Histogram(
            "alert_gateway_delivery_latency_seconds",
            "Time from a notification's arrival to its delivery to Slack.",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
