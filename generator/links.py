"""Names and addresses that several targets must agree on.

Alerts link to runbooks and dashboards, and dashboards are provisioned under
stable uids: every target derives those from here, so they always match.
"""

from __future__ import annotations

import hashlib

from generator.inventory import Inventory, Service

# Grafana refuses dashboard uids longer than this.
MAX_UID_CHARS = 40


def dashboard_uid(inventory: Inventory, name: str) -> str:
    """A stable uid for the dashboard `name` of this stack, at most 40 characters."""
    uid = f"{inventory.stack.name}-{name}"
    if len(uid) <= MAX_UID_CHARS:
        return uid
    digest = hashlib.sha256(uid.encode()).hexdigest()[:8]
    return f"{uid[: MAX_UID_CHARS - 9]}-{digest}"


def service_dashboard_name(service: Service) -> str:
    """Dashboard name of an `http` service; infrastructure kinds share one dashboard."""
    return f"service-{service.name}"


def has_service_dashboard(inventory: Inventory, service: Service) -> bool:
    """Whether `service` has a dashboard of its own; others share the
    infrastructure dashboard."""
    return service.kind == "http" and inventory.pack(service).meta.exporter is None


def dashboard_url(inventory: Inventory, service: Service) -> str:
    """Where an alert about `service` points people in Grafana."""
    base = inventory.stack.grafana.url.rstrip("/")
    if has_service_dashboard(inventory, service):
        uid = dashboard_uid(inventory, service_dashboard_name(service))
        return f"{base}/d/{uid}"
    uid = dashboard_uid(inventory, "infrastructure")
    return f"{base}/d/{uid}?var-service={service.name}"


def overview_url(inventory: Inventory) -> str:
    """The stack overview in Grafana, where alerts about the stack itself point."""
    base = inventory.stack.grafana.url.rstrip("/")
    return f"{base}/d/{dashboard_uid(inventory, 'overview')}"


def runbook_path(alert: str) -> str:
    """Where the runbook of `alert` is written, relative to the output folder."""
    return f"docs/runbooks/{alert}.md"


def runbook_url(inventory: Inventory, alert: str) -> str:
    """The `runbook_url` annotation of `alert`."""
    base = inventory.stack.runbook_base_url
    if base is None:
        return runbook_path(alert)
    return f"{base.rstrip('/')}/{alert}.md"
