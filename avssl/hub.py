"""Share runs through the Hugging Face Hub: `avssl push RUN REPO` and `--run hf-hub:ORG/NAME`.

A pushed repository is a run's `model/` folder plus a model card: ``config.yaml``, ``model.safetensors``,
the run's evaluation results (``eval.json``, ``eval_NAME.json``) and ``README.md`` (the card: the config and
the measured metrics found in those files). That folder is what :func:`avssl.inference.load.load_run` loads
on its own, so ``--run hf-hub:ORG/NAME[@REVISION]`` resolves to the repository's snapshot through
``huggingface_hub.snapshot_download`` (the Hub's cache, ``HF_HUB_CACHE``; ``HF_HUB_OFFLINE=1`` uses only
what is cached) and loads it like a local run.

Limits: only a finished run (``model/model.safetensors``) is pushed, not its checkpoints, logs or data; the
config names the data the run trained on by its local path, which means nothing on another machine (the
commands that take ``--run`` ask for their data themselves). ``huggingface_hub`` is an optional package
(``pip install huggingface_hub``, or the ``hub`` extra); pushing needs a token (``hf auth login`` or ``HF_TOKEN``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

HUB_PREFIX = "hf-hub:"
MODEL_FILES = ("config.yaml", "model.safetensors")
CARD_TAGS = ["avssl", "audio-visual", "self-supervised-learning"]


class HubError(FileNotFoundError):
    """A hub repository or a run to push cannot be used; the message names it and why."""


def _hub():
    try:
        import huggingface_hub
    except ImportError:
        raise HubError(
            "sharing runs through the Hugging Face Hub needs the optional package huggingface_hub: "
            "pip install huggingface_hub (or avssl[hub])"
        ) from None
    return huggingface_hub


def is_hub_run(run: str | Path) -> bool:
    return str(run).startswith(HUB_PREFIX)


def resolve_run(run: str | Path) -> Path:
    """A local path for `run`: itself, or for ``hf-hub:ORG/NAME[@REVISION]`` the repository's snapshot
    folder (downloaded into the Hub cache, or found there offline). HubError, one line, otherwise."""
    if not is_hub_run(run):
        return Path(run)
    repo_id, _, revision = str(run)[len(HUB_PREFIX) :].partition("@")
    hub = _hub()
    try:
        folder = hub.snapshot_download(
            repo_id, revision=revision or None, allow_patterns=["*.yaml", "*.json", "*.safetensors", "*.md"]
        )
    except Exception as err:  # offline without a cached copy, unknown repository, no access, bad name …
        raise HubError(f"{run}: cannot get the repository ({_first_line(err)})") from None
    return Path(folder)


def run_metrics(run: Path) -> dict[str, dict]:
    """The evaluation results a run holds: {file name: its JSON} for ``eval.json`` and ``eval_NAME.json``
    (not the per-step ``eval_step_N.json``)."""
    found = {}
    for path in sorted(run.glob("eval*.json")):
        if path.name.startswith("eval_step_"):
            continue
        try:
            found[path.name] = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise HubError(f"{path}: not a readable JSON file ({err})") from None
    return found


def _metric_rows(metrics: dict[str, dict]) -> list[str]:
    rows = []
    for name, values in metrics.items():
        for key, value in values.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                rows.append(f"| {name} | {key} | {value:.6g} |")
    return rows


def model_card(config: dict, metrics: dict[str, dict], repo_id: str) -> str:
    """The README.md of a pushed run: metadata header, how to use it, its config and measured metrics."""
    hub = _hub()
    header = hub.ModelCardData(library_name="avssl", tags=[*CARD_TAGS, str(config.get("task"))]).to_yaml()
    rows = _metric_rows(metrics)
    table = ["| file | metric | value |", "| --- | --- | --- |", *rows] if rows else ["none in this run"]
    lines = [
        f"---\n{header}\n---",
        f"# {repo_id}",
        f"An avssl `{config.get('task')}` run. `--run hf-hub:{repo_id}` loads it wherever avssl takes `--run` "
        "(eval, embed, localize, segment, export — as far as its task supports them), e.g. its visual "
        "encoder for other toolkits:",
        f"```bash\navssl export --run hf-hub:{repo_id} --part visual --format safetensors --out visual.safetensors"
        "\n```",
        "## Measured metrics",
        "As the run's evaluation wrote them (files in this repository):",
        *table,
        "## Config",
        "```yaml\n" + yaml.safe_dump(config, sort_keys=False).rstrip() + "\n```",
    ]
    return "\n\n".join(lines) + "\n"


def hub_folder(run: str | Path, dest: str | Path, repo_id: str) -> Path:
    """Write into `dest` exactly the files `avssl push` uploads for the run at `run` (module docstring);
    `run` may be a run directory or its `model/` folder alone (then without evaluation results)."""
    run, dest = Path(run), Path(dest)
    model = run if (run / "model.safetensors").is_file() else run / "model"  # a run, or its model/ alone
    missing = [name for name in MODEL_FILES if not (model / name).is_file()]
    if missing:
        raise HubError(f"{run}: no finished model to push ({model / missing[0]} not found)")
    config = yaml.safe_load((model / "config.yaml").read_text())
    metrics = run_metrics(run)
    dest.mkdir(parents=True, exist_ok=True)
    for name in MODEL_FILES:
        shutil.copyfile(model / name, dest / name)
    for name, values in metrics.items():
        (dest / name).write_text(json.dumps(values, indent=2) + "\n")
    (dest / "README.md").write_text(model_card(config, metrics, repo_id))
    return dest


def push_run(run: str | Path, repo_id: str, private: bool = False) -> str:
    """Create `repo_id` on the Hub (if needed) and upload the run's hub folder; returns the commit's URL.
    HubError, one line, when the Hub refuses or cannot be reached."""
    import tempfile

    hub = _hub()
    with tempfile.TemporaryDirectory(prefix="avssl_push_") as tmp:
        folder = hub_folder(run, tmp, repo_id)
        api = hub.HfApi()
        try:
            api.create_repo(repo_id, private=private, exist_ok=True)
            info = api.upload_folder(folder_path=str(folder), repo_id=repo_id, commit_message="avssl push")
        except Exception as err:  # offline, no token, no right to the organisation, bad name …
            raise HubError(f"cannot push {run} to {repo_id}: {_first_line(err)}") from None
    return str(getattr(info, "commit_url", info))


def _first_line(err: Exception) -> str:
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0][:300] if lines else ''}"
