"""Dashboards from rule packs: panels a kind brings, and the errors of a bad pack."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generator import grafana
from generator.errors import PackError
from generator.prototype import Prototype, number_mark, text_mark
from tests.generator.test_grafana import Rendered, by_title, panels, red_step

# Packs and specifications


PACK = """\
kind: memcached
title: Memcached
exporter:
  image: prom/memcached-exporter:v0.14.4
  port: 9150
thresholds:
  down_for: 1m
  evictions_per_second: 10
"""

INVENTORY_WITH_MEMCACHED = """\
stack:
  name: shop
  environment: test
teams:
  - name: web
    slack_channel: "#web"
services:
  - name: storefront
    kind: http
    team: web
    port: 8080
  - name: sessions
    kind: memcached
    team: web
    port: 11211
"""


def _memcached(tmp_path: Path, panels_yml: str | None) -> Rendered:
    pack = tmp_path / "templates" / "rules" / "memcached"
    pack.mkdir(parents=True)
    (pack / "pack.yml").write_text(PACK)
    if panels_yml is not None:
        (pack / "panels.yml").write_text(panels_yml)
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(INVENTORY_WITH_MEMCACHED)
    return Rendered(inventory, tmp_path / "templates")


def test_a_new_kind_without_panels_gets_the_default_row(tmp_path):
    rendered = _memcached(tmp_path, None)
    board = rendered.board("infrastructure")

    grafana.check(rendered.files, rendered.parsed)
    assert [p["title"] for p in board["panels"]] == [
        "Memcached",
        "memcached targets up",
        "memcached scrape duration",
    ]
    assert 'kind="memcached"' in panels(board)[0]["targets"][0]["expr"]


def test_a_new_kind_brings_its_own_panels_and_thresholds(tmp_path):
    rendered = _memcached(
        tmp_path,
        """\
title: Memcached sessions
panels:
  - title: Evictions
    unit: ops
    threshold: evictions_per_second
    targets:
      - expr: rate(memcached_items_evicted_total{service=~"$service"}[$__rate_interval])
""",
    )
    board = rendered.board("infrastructure")

    grafana.check(rendered.files, rendered.parsed)
    assert board["panels"][0]["title"] == "Memcached sessions"
    assert red_step(by_title(board, "Evictions")) == 10


def test_a_panel_without_a_unit_is_reported_at_its_line(tmp_path):
    located = r"panels.yml:2:5: panels\[0\]\.unit: required key is missing"
    with pytest.raises(PackError, match=located):
        _memcached(
            tmp_path,
            "panels:\n  - title: Evictions\n    targets:\n      - expr: up\n",
        )


def test_a_panel_naming_an_unknown_threshold_is_refused(tmp_path):
    with pytest.raises(PackError, match="'nope' is not a numeric threshold"):
        _memcached(
            tmp_path,
            "panels:\n  - title: X\n    unit: none\n    threshold: nope\n"
            "    targets:\n      - expr: up\n",
        )


def test_prototype_fills_values_exactly_as_json_dumps_writes_them():
    text = 'say "hi"\\ \n\t été \x01'
    marked = {"n": number_mark("n"), "t": f"<{text_mark('t')}>"}
    marked["list"] = [number_mark("m")]
    prototype = Prototype(json.dumps(marked, indent=2, sort_keys=True))

    filled = prototype.fill({"n": 0.1, "m": 536870912}, {"t": text})
    real = {"list": [536870912], "n": 0.1, "t": f"<{text}>"}
    assert filled == json.dumps(real, indent=2, sort_keys=True, ensure_ascii=False)


def test_a_pack_query_that_does_not_parse_names_its_file_and_panel(tmp_path):
    with pytest.raises(PackError, match=r"panels.yml: panel 'Hits': .*does not parse"):
        _memcached(
            tmp_path,
            "panels:\n  - title: Hits\n    unit: ops\n"
            "    targets:\n      - expr: sum(rate(hits_total[$__rate_interval])\n",
        )
