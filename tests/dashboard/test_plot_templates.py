"""`dvc plots show` with the project's templates: palette colours, and a page that renders offline."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import yaml

from riskai.dashboard import palette, plot_templates
from tests.dashboard.test_browser import CHROMIUM, _require_browser
from tests.repo_copies import REPO_ROOT, run


def test_committed_templates_are_written_from_the_palette():
    for relative, content in plot_templates.rendered(REPO_ROOT).items():
        assert (REPO_ROOT / relative).read_text(encoding="utf-8") == content, \
            f"{relative} is stale: run python -m riskai.dashboard.plot_templates"
    curves = json.loads((REPO_ROOT / ".dvc/plots/riskai_curves.json").read_text())
    scale = curves["encoding"]["color"]["scale"]
    assert dict(zip(scale["domain"], scale["range"])) == palette.COLORS


def test_dvc_config_uses_the_offline_page():
    config = (REPO_ROOT / ".dvc" / "config").read_text()
    assert re.search(r"^\s*html_template\s*=\s*plots/offline.html\s*$", config, re.M)
    page = (REPO_ROOT / plot_templates.HTML_TEMPLATE).read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]+src=", page)  # nothing fetched: the builds are inlined
    assert "{plot_divs}" in page and "{scripts}" not in page  # so DVC adds no CDN tags


def test_dvc_plots_show_renders_every_plot_offline(tmp_path):
    """`dvc plots show` in a copy holding the committed metrics; Chromium (no network here) draws
    every plot with the inlined Vega builds."""
    _require_browser()
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(REPO_ROOT / "dvc.yaml", repo / "dvc.yaml")
    shutil.copy(REPO_ROOT / "params.yaml", repo / "params.yaml")  # dvc.yaml's foreach reads universe.symbols
    shutil.copytree(REPO_ROOT / "metrics", repo / "metrics")
    run(["git", "init", "-q"], repo)
    run([sys.executable, "-m", "dvc", "init", "-q"], repo)
    shutil.copytree(REPO_ROOT / ".dvc" / "plots", repo / ".dvc" / "plots")
    run([sys.executable, "-m", "dvc", "config", "plots.html_template", "plots/offline.html"], repo)
    run([sys.executable, "-m", "dvc", "plots", "show", "-o", "out"], repo)
    html = (repo / "out" / "index.html").read_text(encoding="utf-8")
    assert "cdn.jsdelivr" not in html and not re.search(r"<script[^>]+src=", html)
    expected = html.count("vegaEmbed(")
    top_level = [next(iter(plot.values())) for plot in yaml.safe_load((repo / "dvc.yaml").read_text())["plots"]]
    assert expected >= len(top_level) >= 2  # the walk-forward's per-fold plots (and each stage's own)
    dom = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=20000",
                          "--dump-dom", (repo / "out" / "index.html").as_uri()],
                         capture_output=True, text=True, timeout=180).stdout
    assert dom.count('role="graphics-document"') == expected  # every plot drew its marks
    titles = re.findall(r'"title": "([^"]+)"', html) + re.findall(r'"title": \{"text": "([^"]+)"', html)
    for plot in top_level:  # human titles, not file paths
        assert plot["title"] in titles and not plot["title"].startswith("metrics/")
