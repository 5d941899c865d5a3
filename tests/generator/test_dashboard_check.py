"""The dashboard checker: every kind of broken dashboard it must catch."""

from __future__ import annotations

import copy

import pytest

from generator.dashboard_check import check_dashboards, expr_problem, standins
from generator.errors import RenderError
from tests.generator.test_grafana import BOARDS, SMALL, Rendered, by_title, panels


@pytest.fixture(scope="module")
def small() -> Rendered:
    return Rendered(SMALL)


# The checker catches broken dashboards


def _overlap(board):
    panels(board)[1]["gridPos"] = dict(panels(board)[0]["gridPos"])


def _duplicate_id(board):
    panels(board)[1]["id"] = panels(board)[0]["id"]


def _panel_uid(board):
    panels(board)[0]["datasource"] = {"type": "prometheus", "uid": "P1809F7CD0C75ACF3"}


def _target_uid(board):
    panels(board)[0]["targets"][0]["datasource"] = {"type": "prometheus", "uid": "abc"}


def _no_unit(board):
    del panels(board)[0]["fieldConfig"]["defaults"]["unit"]


def _broken_expr(board):
    panels(board)[0]["targets"][0]["expr"] = "sum(rate(up[$__rate_interval])"


def _fixed_range(board):
    panels(board)[0]["targets"][0]["expr"] = "sum(rate(x_total[5m]))"


def _too_wide(board):
    panels(board)[0]["gridPos"]["x"] = 20


def _numeric_id(board):
    board["id"] = 7


def _long_uid(board):
    board["uid"] = "x" * 41


def _no_datasource_variable(board):
    board["templating"]["list"] = []


BREAKAGES = {
    "overlapping panels": (_overlap, "overlaps"),
    "duplicate panel ids": (_duplicate_id, "is also the id"),
    "hard-coded panel datasource": (_panel_uid, "datasource must be"),
    "hard-coded query datasource": (_target_uid, "query A: datasource must be"),
    "missing unit": (_no_unit, "has no unit"),
    "broken expr": (_broken_expr, "does not parse"),
    "rate over a fixed range": (_fixed_range, r"must range over \$__rate_interval"),
    "panel off the grid": (_too_wide, "outside the 24-column grid"),
    "numeric dashboard id": (_numeric_id, "numeric 'id'"),
    "uid over 40 characters": (_long_uid, "longer than 40"),
    "no datasource variable": (_no_datasource_variable, "no 'datasource' variable"),
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_check_catches_a_broken_dashboard(small, breakage):
    breaks, message = BREAKAGES[breakage]
    path = f"{BOARDS}/service-gateway.json"
    boards = copy.deepcopy(small.boards())
    breaks(boards[path])

    with pytest.raises(RenderError, match=message) as caught:
        check_dashboards(sorted(boards.items()))
    assert str(caught.value).startswith(path)


def test_check_names_the_panel_at_fault(small):
    boards = copy.deepcopy(small.boards())
    board = boards[f"{BOARDS}/overview.json"]
    del by_title(board, "Firing alerts")["fieldConfig"]["defaults"]["unit"]

    with pytest.raises(
        RenderError, match=r"'Firing alerts': fieldConfig\.defaults has no unit"
    ):
        check_dashboards(sorted(boards.items()))


def test_check_catches_two_dashboards_sharing_a_uid(small):
    boards = copy.deepcopy(small.boards())
    boards[f"{BOARDS}/service-gateway.json"]["uid"] = boards[f"{BOARDS}/overview.json"][
        "uid"
    ]

    with pytest.raises(RenderError, match="is also the uid of"):
        check_dashboards(sorted(boards.items()))


def test_check_finds_panels_inside_collapsed_rows(small):
    boards = copy.deepcopy(small.boards())
    board = boards[f"{BOARDS}/service-gateway.json"]
    row = next(p for p in board["panels"] if p["type"] == "row")
    hidden = copy.deepcopy(panels(board)[0])
    hidden["id"] = 999
    del hidden["fieldConfig"]["defaults"]["unit"]
    row.update(collapsed=True, panels=[hidden])

    with pytest.raises(RenderError, match="panel 999"):
        check_dashboards(sorted(boards.items()))


# Queries with Grafana variables


@pytest.mark.parametrize(
    "expr",
    [
        'sum(rate(x_total{service="$service"}[$__rate_interval])) / $cpu_limit_cores',
        'up{service=~"${service}", env="${env:regex}"}',
        "increase(x_total[$__rate_interval]) * $__range_s",
    ],
)
def test_queries_with_grafana_variables_parse(expr):
    assert expr_problem(expr) is None
    assert "$" not in standins(expr)


@pytest.mark.parametrize(
    ("expr", "problem"),
    [
        ("", "empty"),
        ("rate(x_total[$__interval])", "must range over"),
        ('up{service="a"', "does not parse"),
        ("sum by (service) (", "does not parse"),
    ],
)
def test_query_problems_are_named(expr, problem):
    assert problem in (expr_problem(expr) or "")
