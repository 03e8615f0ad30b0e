"""Figures of runs and result tables as PNG files (matplotlib, Agg backend: no display needed).

`run_series` reads a run directory's training log (`metrics.jsonl`: one object per logged step with
`step`, `loss`, `loss/<part>`, `lr`, …) and its periodic evaluations (`eval_step_N.json`, plus
`eval/<metric>` entries of the log and the final `eval.json` or `eval_<name>.json`, placed at the last
logged step) into plain step/value series; `plot_runs` draws them (loss, lr, then one panel per evaluation
metric; one line per run); `table_png` renders a table of strings.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from avssl.train.logging import METRICS_FILE, read_metrics

PANEL_INCHES = (4.0, 3.0)
DPI = 100
MAX_COLUMNS = 3
EVAL_STEP = re.compile(r"eval_step_(\d+)\.json$")

Series = tuple[list[int], list[float]]  # (steps, values), steps increasing


@dataclass
class RunSeries:
    """A run's curves: `train` holds "loss", "loss/<part>" and "lr"; `evaluation` one series per metric."""

    name: str
    train: dict[str, Series] = field(default_factory=dict)
    evaluation: dict[str, Series] = field(default_factory=dict)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _append(series: dict[str, Series], key: str, step: int, value: float) -> None:
    steps, values = series.setdefault(key, ([], []))
    steps.append(step)
    values.append(float(value))


def _evaluation_files(run: Path, last_step: int) -> dict[int, dict]:
    """{step: metrics} of eval_step_N.json and of the final evaluation at `last_step`: eval.json (the
    runner's merge of every evaluator) or else the eval_<name>.json files merged."""
    by_step: dict[int, dict] = {}
    final: dict = {}
    for path in sorted(run.glob("eval_*.json")):
        metrics = json.loads(path.read_text())
        if not isinstance(metrics, dict):
            continue
        match = EVAL_STEP.match(path.name)
        if match:
            by_step[int(match.group(1))] = metrics
        else:
            final.update(metrics)
    if (run / "eval.json").is_file():
        final = json.loads((run / "eval.json").read_text())
    if final and isinstance(final, dict):
        by_step.setdefault(last_step, final)
    return dict(sorted(by_step.items()))


def run_series(run_dir: str | Path) -> RunSeries:
    """The curves of one run directory. Evaluation metrics are the float-valued top-level entries of an
    evaluation file (counts such as num_samples are ints and are left out). FileNotFoundError without a
    metrics.jsonl or with no logged step."""
    run = Path(run_dir)
    if not (run / METRICS_FILE).is_file():
        raise FileNotFoundError(f"{run}: no {METRICS_FILE} (not a training run directory?)")
    rows = [row for row in read_metrics(run) if _is_number(row.get("step"))]
    if not rows:
        raise FileNotFoundError(f"{run}: {METRICS_FILE} has no logged step")
    result = RunSeries(name=run.resolve().name)
    for row in rows:
        for key, value in row.items():
            if not _is_number(value):
                continue
            if key == "loss" or key.startswith("loss/") or key == "lr":
                _append(result.train, key, row["step"], value)
            elif key.startswith("eval/"):
                _append(result.evaluation, key.removeprefix("eval/"), row["step"], value)
    evaluated = {step for steps, _ in result.evaluation.values() for step in steps}
    for step, metrics in _evaluation_files(run, rows[-1]["step"]).items():
        if step in evaluated:
            continue
        for key, value in metrics.items():
            if isinstance(value, float):
                _append(result.evaluation, key, step, value)
    return result


def panels(runs: list[RunSeries]) -> list[tuple[str, dict[str, Series]]]:
    """What `plot_runs` draws: [(title, {run name: series})], loss and lr first, then each evaluation
    metric in the order first seen; a panel lists only the runs that have that series."""
    titles = ["loss", "lr"]
    for run in runs:
        titles += [key for key in run.evaluation if key not in titles]
    result = []
    for title in titles:
        source = "train" if title in ("loss", "lr") else "evaluation"
        lines = {run.name: getattr(run, source)[title] for run in runs if title in getattr(run, source)}
        if lines:
            result.append((title, lines))
    return result


def figure_size(num_panels: int) -> tuple[int, int]:
    """(width, height) in pixels of the figure `plot_runs` writes for `num_panels` panels."""
    columns = min(num_panels, MAX_COLUMNS)
    rows = -(-num_panels // MAX_COLUMNS)
    return round(columns * PANEL_INCHES[0] * DPI), round(rows * PANEL_INCHES[1] * DPI)


def _new_figure(width_px: int, height_px: int):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width_px / DPI, height_px / DPI), dpi=DPI)
    FigureCanvasAgg(figure)
    return figure


def _save(figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=DPI)
    return path


def plot_runs(runs: list[RunSeries], out: str | Path) -> Path:
    """One PNG at `out`: a panel per entry of `panels(runs)`, one line per run (legend: run name).
    OSError when `out` cannot be written."""
    drawn = panels(runs)
    width, height = figure_size(len(drawn))
    figure = _new_figure(width, height)
    columns = min(len(drawn), MAX_COLUMNS)
    for i, (title, lines) in enumerate(drawn):
        axes = figure.add_subplot(-(-len(drawn) // MAX_COLUMNS), columns, i + 1)
        for name, (steps, values) in lines.items():
            axes.plot(steps, values, marker="o" if len(steps) < 20 else None, markersize=3, label=name)
        axes.set_title(title)
        axes.set_xlabel("step")
        axes.grid(alpha=0.3)
        axes.legend(fontsize="small")
    figure.tight_layout()
    return _save(figure, out)


def table_png(rows: list[list[str]], header: list[str], path: str | Path, title: str | None = None) -> Path:
    """A table of strings (`header` over `rows`) as a PNG at `path`, with an optional (multi-line) title
    above it; the figure grows with the text."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    title_lines = title.splitlines() if title else []
    chars = max([sum(widths) + 2 * len(widths), *(len(line) for line in title_lines)])
    width_px = max(400, round((chars * 0.08 + 0.4) * DPI))
    title_inches = 0.22 * len(title_lines) + 0.15 if title_lines else 0.0
    table_inches = (len(rows) + 1) * 0.28
    height_px = round((table_inches + title_inches + 0.1) * DPI)
    figure = _new_figure(width_px, height_px)
    axes = figure.add_axes((0.02, 0.05 / (height_px / DPI), 0.96, table_inches / (height_px / DPI)))
    axes.axis("off")
    if title_lines:
        figure.suptitle("\n".join(title_lines), fontsize=9)
    table = axes.table(
        cellText=[[str(c) for c in row] for row in rows],
        colLabels=header,
        colWidths=[(w + 2) / chars for w in widths],
        bbox=(0, 0, 1, 1),
        cellLoc="center",
    )
    table.auto_set_font_size(False)
    table.set_fontsize(9)
    for (row, _), cell in table.get_celld().items():
        if row == 0:
            cell.set_text_props(weight="bold")
    return _save(figure, path)
