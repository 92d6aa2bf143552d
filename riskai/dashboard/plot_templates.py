"""DVC plot templates and the offline HTML page of `dvc plots show`, written from ``palette``.

`python -m riskai.dashboard.plot_templates` (re)writes ``.dvc/plots/riskai_*.json`` and
``.dvc/plots/offline.html``; a test holds the committed files equal to what this module writes, so
the colours stay defined once. The HTML inlines the Vega, Vega-Lite and Vega-Embed builds vendored
in ``.dvc/plots/vendor/`` (from the npm registry, licences beside them): the page needs no network.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from riskai.dashboard import palette

TEMPLATE_DIR = Path(".dvc/plots")
VENDOR_DIR = TEMPLATE_DIR / "vendor"
HTML_TEMPLATE = TEMPLATE_DIR / "offline.html"
SCRIPTS = ("vega.min.js", "vega-lite.min.js", "vega-embed.min.js")
SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"  # an identifier, never fetched
DATA, TITLE, X, Y = "<DVC_METRIC_DATA>", "<DVC_METRIC_TITLE>", "<DVC_METRIC_X>", "<DVC_METRIC_Y>"
X_LABEL, Y_LABEL = "<DVC_METRIC_X_LABEL>", "<DVC_METRIC_Y_LABEL>"
# DVC adds `filename` (e.g. "meta.json") to rows of a plot drawn from several files: the model key.
MODEL_FROM_FILE = {"calculate": "replace(datum.filename || '', '.json', '')", "as": "model"}
# Curves are drawn in file order (a PR curve's recall falls while its threshold rises), not sorted by x.
FILE_ORDER = {"window": [{"op": "row_number", "as": "row"}], "groupby": ["model", "rev"]}


def _label_expr() -> str:
    """Vega expression mapping a model key to its human name (legend labels)."""
    expr = "datum.label"
    for model in reversed(palette.MODELS):
        expr = f"datum.label == '{model}' ? '{palette.label(model)}' : ({expr})"
    return expr


def _model_color() -> dict:
    return {"field": "model", "type": "nominal", "sort": list(palette.MODELS),
            "scale": {"domain": list(palette.MODELS), "range": [palette.COLORS[m] for m in palette.MODELS]},
            "legend": {"title": "model", "labelExpr": _label_expr()}}


def _curves_layer(point: bool) -> dict:
    return {
        "mark": {"type": "line", "point": point, "tooltip": {"content": "data"}},
        "encoding": {
            "x": {"field": X, "type": "quantitative", "title": X_LABEL, "scale": {"domain": [0, 1]}},
            "y": {"field": Y, "type": "quantitative", "title": Y_LABEL, "scale": {"domain": [0, 1]}},
            "color": _model_color(),
            "strokeDash": {"field": "rev", "type": "nominal", "title": "revision"},
            "order": {"field": "row", "type": "quantitative"},
        },
    }


def curves_template() -> dict:
    """ROC and precision-recall curves: one colour per model, one dash per revision."""
    return {"$schema": SCHEMA, "data": {"values": DATA}, "title": TITLE, "width": 420, "height": 340,
            "transform": [MODEL_FROM_FILE, FILE_ORDER], **_curves_layer(point=False)}


def calibration_template() -> dict:
    """Calibration curves with the perfect-calibration diagonal."""
    diagonal = {"data": {"values": [{"p": 0.0}, {"p": 1.0}]},
                "mark": {"type": "line", "strokeDash": [4, 4], "color": palette.REFERENCE_COLOR},
                "encoding": {"x": {"field": "p", "type": "quantitative"}, "y": {"field": "p", "type": "quantitative"}}}
    curves = {"transform": [MODEL_FROM_FILE, FILE_ORDER], **_curves_layer(point=True)}
    return {"$schema": SCHEMA, "data": {"values": DATA}, "title": TITLE, "width": 420, "height": 340,
            "layer": [diagonal, curves]}


def bars_template() -> dict:
    """Horizontal bars whose categories sort by their leading number ('0-20' < '20-40' < '100';
    '5x_long' < '5x_short' < '10x_long'), not as text; one bar per revision."""
    order = f"parseFloat(datum['{Y}']) + (indexof(datum['{Y}'], 'short') >= 0 ? 0.25 : 0)"
    return {
        "$schema": SCHEMA, "data": {"values": DATA}, "title": TITLE, "width": 420,
        "transform": [{"calculate": order, "as": "order"}],
        "mark": {"type": "bar", "tooltip": {"content": "data"}},
        "encoding": {
            "x": {"field": X, "type": "quantitative", "title": X_LABEL, "axis": {"format": "%"}},
            "y": {"field": Y, "type": "nominal", "title": Y_LABEL, "sort": {"field": "order", "op": "min"}},
            "yOffset": {"field": "rev", "type": "nominal"},
            "color": {"field": "rev", "type": "nominal", "title": "revision"},
        },
    }


def timeline_template() -> dict:
    """A score per walk-forward fold over time (x: the fold's origin date), one colour per model."""
    layer = _curves_layer(point=True)
    layer["encoding"]["x"] = {"field": X, "type": "temporal", "title": X_LABEL}
    return {"$schema": SCHEMA, "data": {"values": DATA}, "title": TITLE, "width": 560, "height": 300,
            "transform": [MODEL_FROM_FILE, FILE_ORDER], **layer}


TEMPLATES = {"riskai_curves": curves_template, "riskai_calibration": calibration_template,
             "riskai_bars": bars_template, "riskai_timeline": timeline_template}

PAGE = """<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
{refresh_tag}
<title>riskai: pipeline plots</title>
<!-- Vendored, no CDN: %(versions)s. Licences in .dvc/plots/vendor/. -->
%(scripts)s
<style>
  body { font-family: system-ui, sans-serif; margin: 24px; color: #222; }
  h1 { font-size: 20px; }
  table { border-spacing: 15px; }
</style>
</head>
<body>
<h1>riskai: pipeline plots</h1>
<p>Walk-forward ROC-AUC and PR-AUC of each monthly fold, every day scored out-of-sample by the models
of its own fold. Same model, same colour.</p>
{plot_divs}
</body>
</html>
"""


def html_page(root: Path) -> str:
    """The `--html-template` page: DVC fills {plot_divs} and {refresh_tag}; no {scripts}, so DVC's
    CDN script tags are never inserted and the inlined builds are used."""
    vendor = Path(root) / VENDOR_DIR
    scripts = []
    for name in SCRIPTS:
        code = (vendor / name).read_text(encoding="utf-8")
        if "{plot_divs}" in code or "{refresh_tag}" in code or "</script" in code:
            raise ValueError(f"{vendor / name}: contains a DVC placeholder or </script>; cannot inline it")
        scripts.append(f"<script>\n{code}\n</script>")
    versions = (vendor / "VERSIONS").read_text(encoding="utf-8").strip().replace("\n", ", ")
    return PAGE.replace("%(versions)s", versions).replace("%(scripts)s", "\n".join(scripts))


def rendered(root: Path) -> dict[Path, str]:
    """Every file this module writes, relative to the repository root, with its content."""
    files = {TEMPLATE_DIR / f"{name}.json": json.dumps(build(), indent=2) + "\n" for name, build in TEMPLATES.items()}
    files[HTML_TEMPLATE] = html_page(root)
    return files


def write(root: Path) -> list[Path]:
    written = []
    for relative, content in rendered(root).items():
        path = Path(root) / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        written.append(relative)
    return written


if __name__ == "__main__":
    for path in write(Path.cwd()):
        print(path)
    sys.exit(0)
