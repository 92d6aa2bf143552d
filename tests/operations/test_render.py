"""Plain-text output of `riskai` commands: nested values as small tables, compare's headline first."""
from __future__ import annotations

import io
import json
from contextlib import redirect_stdout

from riskai import cli
from riskai.operations.render import compare_headline, fmt_number, fmt_share, render_human, render_summary

# What `riskai release` returns: a tag, a flag and every output's hash (more than six entries).
RELEASE = {"tag": "v2.0", "served": True,
           "outputs": {f"data/models/file_{i}.json": f"{i:032x}" for i in range(8)}}
DAILY = {"date": "2025-11-28", "risk_score": 42.8712, "out_of_range_features": {"oi_delta": "missing"},
         "liquidation_risk": {"10x_long": 0.0107, "10x_short": 0.0087, "5x_long": 0.0005},
         "model_age_days": 1234}


def test_no_nested_value_is_hidden():
    text = render_summary(RELEASE)
    assert "entries}" not in text
    for path, md5 in RELEASE["outputs"].items():
        assert any(line.split() == [path, md5] for line in text.splitlines()), path
    assert "tag: v2.0" in text and "served: yes" in text


def test_daily_summary_as_small_tables_with_people_numbers():
    lines = render_summary(DAILY).splitlines()
    assert "risk_score: 42.8712" in lines and "model_age_days: 1,234" in lines
    assert lines[lines.index("liquidation_risk:") + 1].split() == ["10x_long", "0.0107"]
    assert lines[lines.index("out_of_range_features:") + 1].split() == ["oi_delta", "missing"]


def test_dict_of_records_is_one_table():
    text = render_summary({"metrics": {"meta": {"roc_auc": 0.774, "pr_auc": 0.454},
                                       "har_logit": {"roc_auc": 0.76, "pr_auc": 0.355}}})
    rows = [line.split() for line in text.splitlines()]
    assert rows[1] == ["roc_auc", "pr_auc"] and rows[3] == ["meta", "0.7740", "0.4540"]
    assert rows[4] == ["har_logit", "0.7600", "0.3550"]


def test_compare_prints_the_headline_before_the_details():
    summary = {
        "old": "v1", "new": "v2", "symbol": "BTCUSDT",
        "metrics": {"metrics/symbols/BTCUSDT/walkforward.json": {"meta.roc": {"old": 0.785, "new": 0.774,
                                                                                "diff": -0.011}}},
        "params": {}, "buckets": {"risk_score.overall": {b: {"old": 0.1, "new": 0.2} for b in
                                                         ("0-20", "100", "20-40", "40-60", "60-80", "80-100")}},
        "headline": {"meta.roc_auc": {"old": 0.785, "new": 0.774, "change": -0.011},
                     "har_logit.brier": {"old": 0.12, "new": 0.121, "change": 0.001}},
    }
    text = render_human("compare", summary)
    head, details = text.split("Details", 1)
    assert head.splitlines()[0] == "Headline: v1 -> v2 (walk-forward BTCUSDT, every scored day out-of-sample)"
    assert ["meta", "ROC-AUC", "0.7850", "0.7740", "-0.0110"] == head.splitlines()[3].split()
    buckets = [line.split()[2] for line in head.splitlines() if line.startswith("risk score")]
    assert buckets == ["0-20", "20-40", "40-60", "60-80", "80-100", "100"]  # numeric order
    assert "metrics/symbols/BTCUSDT/walkforward.json:meta.roc" in details
    assert compare_headline(summary) in text


def test_cli_plain_output_shows_nested_values_as_a_table(tmp_path, monkeypatch):
    """A real command whose summary nests a dict: `riskai params set` on a throwaway params.yaml."""
    (tmp_path / "params.yaml").write_text('extract:\n  symbol: BTCUSDT\n  end: "2025-11-30"\n')
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli.main(["params", "set", "extract.end=2025-12-31", "extract.symbol=ETHUSDT"]) == 0
    lines = out.getvalue().splitlines()
    assert lines[0] == "params.yaml:"
    assert [line.split() for line in lines[1:]] == [["extract.end", "2025-12-31"], ["extract.symbol", "ETHUSDT"]]
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli.main(["params", "set", "extract.end=2026-01-31", "--json"]) == 0
    assert json.loads(out.getvalue())["params.yaml"] == {"extract.end": "2026-01-31"}


def test_formatting_helpers():
    assert fmt_number(1795) == "1,795" and fmt_number(None) == "-" and fmt_number(12345.678) == "12,345.7"
    assert fmt_share(0.7207) == "72.1 %"


def test_riskai_compare_prints_headline_from_both_tags(tmp_path, monkeypatch):
    """`riskai compare` in a real git + DVC repository: v1 released before the fold plan (its whole
    walk-forward report in metrics/symbols/S/walkforward.json), v2 with the committed report in
    reports/symbols/S/walkforward.json and only the headline in metrics/."""
    from tests.repo_copies import REPO_ROOT, init_git, run

    report_path, metrics_path = "reports/symbols/BTCUSDT/walkforward.json", "metrics/symbols/BTCUSDT/walkforward.json"
    report = json.loads((REPO_ROOT / report_path).read_text())
    headline = json.loads((REPO_ROOT / metrics_path).read_text())
    for folder in ("metrics/symbols/BTCUSDT", "reports/symbols/BTCUSDT"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "dvc.yaml").write_text(f"metrics:\n  - {metrics_path}\n")
    (tmp_path / "params.yaml").write_text("extract:\n  symbol: BTCUSDT\nevaluate:\n  seed: 42\n")
    before = json.loads(json.dumps(report))
    before["overall"]["meta"]["roc_auc"] = 0.785
    before["buckets"]["overall"]["0-20"] = 0.5
    (tmp_path / metrics_path).write_text(json.dumps(before))  # the old layout: the full report is the metric
    init_git(tmp_path)
    run(["git", "tag", "v1"], tmp_path)
    (tmp_path / metrics_path).write_text(json.dumps(headline))
    (tmp_path / report_path).write_text(json.dumps(report))
    run(["git", "add", "-A"], tmp_path)
    run(["git", "commit", "-qm", "after"], tmp_path)
    run(["git", "tag", "v2"], tmp_path)
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli.main(["compare", "v1", "v2"]) == 0
    lines = out.getvalue().splitlines()
    assert lines[0] == "Headline: v1 -> v2 (walk-forward BTCUSDT, every scored day out-of-sample)"
    new = report["overall"]["meta"]["roc_auc"]
    assert lines[3].split() == ["meta", "ROC-AUC", "0.7850", f"{new:.4f}", f"{new - 0.785:+.4f}"]
    har = report["overall"]["har_logit"]["brier"]
    assert ["HAR-logit", "Brier", f"{har:.4f}", f"{har:.4f}", "+0.0000"] in [line.split() for line in lines[:12]]
    share = report["buckets"]["overall"]["0-20"]
    assert ["risk", "score", "0-20", "(share", "of", "scored", "days)", "50.0", "%", f"{100 * share:.1f}", "%",
            f"{100 * (share - 0.5):+.1f}", "pp"] in [line.split() for line in lines[:12]]
    assert out.getvalue().index("Headline") < out.getvalue().index("Details")
