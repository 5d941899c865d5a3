"""`obsgen lint`: what it flags in rule files and where it says so."""

from __future__ import annotations

from datetime import timedelta

from generator.lint import lint_file
from tests.generator.conftest import run_obsgen

GOOD_ALERT = """\
      - alert: ServiceDown
        expr: up == 0
        for: 1m
        labels: {severity: critical, team: web}
        annotations:
          summary: down
          description: it is down
          runbook_url: https://runbooks.example/ServiceDown.md
"""


def lint_text(tmp_path, text: str, scrape_interval: str = "15s") -> list[str]:
    path = tmp_path / "rules.yml"
    path.write_text(text)
    seconds = int(scrape_interval.removesuffix("s"))
    findings = lint_file(path, scrape_interval=timedelta(seconds=seconds))
    return [str(finding).removeprefix(f"{path}:") for finding in findings]


def test_a_complete_alert_has_no_findings(tmp_path):
    assert (
        lint_text(tmp_path, "groups:\n  - name: web\n    rules:\n" + GOOD_ALERT) == []
    )


def test_missing_routing_labels_and_explanations_are_errors(tmp_path):
    text = """\
groups:
  - name: web
    rules:
      - alert: ServiceDown
        expr: up == 0
        for: 1m
        labels: {severity: page}
"""
    assert lint_text(tmp_path, text) == [
        "4:9: error: alert 'ServiceDown' has no 'description' annotation "
        "[alert-annotations]",
        "4:9: error: alert 'ServiceDown' has no 'summary' annotation "
        "[alert-annotations]",
        "4:9: error: alert 'ServiceDown' has no 'team' label [alert-labels]",
        "4:9: warning: alert 'ServiceDown' has no 'runbook_url' annotation "
        "[alert-annotations]",
        "7:18: error: severity 'page' is not one of critical, info, warning "
        "[alert-labels]",
    ]


def test_rate_over_a_short_range_or_of_a_gauge_is_flagged(tmp_path):
    text = """\
groups:
  - name: web
    rules:
      - record: service:http_requests:rate1m
        expr: sum by (service) (rate(http_requests_total[1m]))
      - record: service:memory:rate5m
        expr: sum by (service) (rate(process_working_set_bytes[5m]))
"""
    assert lint_text(tmp_path, text, scrape_interval="30s") == [
        "5:9: warning: rate() over 1m sees fewer than 4 scrapes; use at least 2m "
        "[rate-range]",
        "7:9: warning: rate() of 'process_working_set_bytes', which is not named "
        "as a counter [rate-counter]",
    ]


def test_broken_expressions_and_duplicate_groups_are_errors(tmp_path):
    text = """\
groups:
  - name: web
    rules:
      - record: job:up:sum
        expr: sum(up
  - name: web
    rules: []
"""
    assert lint_text(tmp_path, text) == [
        "5:9: error: expression does not parse: unclosed left parenthesis [syntax]",
        "6:5: error: rule group 'web' is defined twice [group-name]",
    ]


def test_unknown_keys_and_rules_of_no_kind_are_errors(tmp_path):
    text = """\
groups:
  - name: web
    rules:
      - expr: up == 0
        severity: critical
"""
    assert lint_text(tmp_path, text) == [
        "4:9: error: a rule has exactly one of `alert` and `record` [structure]",
        "5:9: error: unknown key 'severity' [structure]",
    ]


def test_command_exits_1_on_errors_and_on_warnings_only_when_strict(tmp_path):
    warning_only = GOOD_ALERT.replace("        for: 1m\n", "")
    (tmp_path / "rules.yml").write_text(
        "groups:\n  - name: web\n    rules:\n" + warning_only
    )

    relaxed = run_obsgen("lint", tmp_path)
    strict = run_obsgen("lint", "--strict", tmp_path)

    assert relaxed.exit_code == 0
    assert "[alert-for]" in relaxed.output
    assert strict.exit_code == 1


def test_a_file_that_is_not_yaml_is_reported_not_raised(tmp_path):
    assert lint_text(tmp_path, "groups: [\n") == [
        "2:1: error: not valid YAML: did not find expected node content [yaml]"
    ]


def test_rendered_rules_of_the_cardealer_stack_are_clean(cardealer_stack):
    result = run_obsgen("lint", "--strict", cardealer_stack / "prometheus" / "rules")

    assert result.exit_code == 0, result.output


def test_what_promtool_would_refuse_is_an_error(tmp_path):
    text = """\
groups:
  - name: web
    rules:
      - record: bad name
        expr: up
      - alert: ServiceDown
        expr: up == 0
        for: 5 minutes
        labels: {severity: critical, team: web, bad-label: x}
        annotations:
          summary: "{{ $labels.service "
          description: "{{ nosuchfn }} is down"
          runbook_url: "{{ humanize $value }} }}"
"""
    assert lint_text(tmp_path, text) == [
        "4:9: error: recording rule name 'bad name' is not a metric name [record-name]",
        "8:9: error: `for: 5 minutes` is not a duration such as 5m [duration]",
        "9:49: error: 'bad-label' is not a label name [label-name]",
        "11:11: error: annotations.summary: a template action `{{` is never closed "
        "[template]",
        "12:11: error: annotations.description: `{{ nosuchfn }}`: 'nosuchfn' is not "
        "a template function [template]",
        "13:11: error: annotations.runbook_url: `}}` closes no template action "
        "[template]",
    ]


def test_templates_prometheus_understands_pass(tmp_path):
    annotations = (
        '          summary: "{{ $labels.service }} at {{ $value | humanize }}"\n'
        '          description: "{{- if gt $value 1.0 }}high{{ else }}ok{{ end -}}'
        ' {{ printf \\"%.2f\\" $value }} {{/* note */}}"\n'
    )
    text = GOOD_ALERT.replace(
        "          summary: down\n          description: it is down\n", annotations
    )

    assert lint_text(tmp_path, "groups:\n  - name: web\n    rules:\n" + text) == []


def test_group_durations_and_alert_fields_on_recording_rules_are_errors(tmp_path):
    text = """\
groups:
  - name: web
    interval: 5 m
    rules:
      - record: job:up:sum
        expr: sum(up)
        for: 5m
        annotations: {summary: x}
"""
    assert lint_text(tmp_path, text) == [
        "3:5: error: `interval: 5 m` is not a duration such as 5m [duration]",
        "7:9: error: a recording rule has no 'for' [structure]",
        "8:9: error: a recording rule has no 'annotations' [structure]",
    ]


def test_an_empty_file_holds_no_rules_and_an_empty_folder_is_an_error(tmp_path):
    assert lint_text(tmp_path, "") == []

    empty = tmp_path / "nothing"
    empty.mkdir()
    result = run_obsgen("lint", empty)

    assert result.exit_code == 1
    assert "no rule files" in result.output
