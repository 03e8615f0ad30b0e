"""Sharing runs through the Hugging Face Hub, without a network: `avssl push --local` writes the folder that
`push` uploads (model folder + evaluation JSON + model card); that folder, laid into a Hub cache the way
`snapshot_download` leaves it (checked with `huggingface_hub.scan_cache_dir`), is what `--run hf-hub:ORG/NAME`
loads through the real `snapshot_download` with HF_HUB_OFFLINE=1 (in a subprocess, so the library reads
the environment as a user's shell sets it)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from avssl.cli import main as cli

hub = pytest.importorskip("huggingface_hub")
ROOT = Path(__file__).resolve().parents[2]
REPO = "someone/avc-small"
SMALL = ["model.visual.name=small", "model.audio.name=audio_small", "model.embed_dim=16"]


@pytest.fixture(scope="module")
def evaluated_run(tmp_path_factory, make_run):
    run = tmp_path_factory.mktemp("hub") / "run"
    task = make_run(run, "av_contrastive", SMALL, seed=5)
    (run / "eval.json").write_text(json.dumps({"retrieval/a2v_r@1": 0.125, "probe/top1": 0.5}))
    (run / "eval_retrieval.json").write_text(json.dumps({"retrieval/a2v_r@1": 0.125, "note": "x"}))
    (run / "eval_step_10.json").write_text(json.dumps({"retrieval/a2v_r@1": 0.0625}))
    return run, task


def lay_into_hub_cache(folder: Path, cache: Path, repo_id: str) -> Path:
    """`folder`'s files as the snapshot of `repo_id`'s main branch in a Hub cache: blobs named by content
    hash, snapshots/<commit>/<file> linking to them, refs/main naming the commit."""
    from huggingface_hub.file_download import repo_folder_name

    storage = cache / repo_folder_name(repo_id=repo_id, repo_type="model")
    files = sorted(p for p in folder.iterdir() if p.is_file())
    commit = hashlib.sha1(b"".join(p.name.encode() + p.read_bytes() for p in files)).hexdigest()
    snapshot = storage / "snapshots" / commit
    for directory in (storage / "blobs", snapshot, storage / "refs"):
        directory.mkdir(parents=True, exist_ok=True)
    for path in files:
        blob = storage / "blobs" / hashlib.sha256(path.read_bytes()).hexdigest()
        blob.write_bytes(path.read_bytes())
        (snapshot / path.name).symlink_to(os.path.relpath(blob, snapshot))
    (storage / "refs" / "main").write_text(commit)
    return snapshot


def _avssl(args: list[str], cache: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache)}
    env.pop("HF_TOKEN", None)
    return subprocess.run(
        [sys.executable, "-m", "avssl.cli", *args], env=env, capture_output=True, text=True, timeout=300
    )


def test_push_local_writes_the_model_folder_and_a_card(evaluated_run, tmp_path: Path, capsys) -> None:
    run, _ = evaluated_run
    out = tmp_path / "repo"
    assert cli(["push", str(run), REPO, "--local", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["README.md", "config.yaml", "eval.json", "eval_retrieval.json", "model.safetensors"]
    assert (out / "model.safetensors").read_bytes() == (run / "model" / "model.safetensors").read_bytes()
    card = hub.ModelCard.load(out / "README.md")  # the library parses it: metadata header + text
    assert card.data.library_name == "avssl" and "av_contrastive" in card.data.tags
    assert "| eval.json | retrieval/a2v_r@1 | 0.125 |" in card.text
    assert "| eval.json | probe/top1 | 0.5 |" in card.text and "0.0625" not in card.text  # not per-step files
    config_block = card.text.split("```yaml\n", 1)[1].split("```", 1)[0]
    assert yaml.safe_load(config_block) == yaml.safe_load((run / "config.yaml").read_text())
    assert f"--run hf-hub:{REPO}" in card.text
    assert cli(["push", str(run / "model"), REPO, "--local", str(tmp_path / "alone")]) == 0  # model/ alone
    assert sorted(p.name for p in (tmp_path / "alone").iterdir()) == [
        "README.md",
        "config.yaml",
        "model.safetensors",
    ]


def test_hf_hub_run_loads_from_the_hub_cache(evaluated_run, tmp_path: Path) -> None:
    run, task = evaluated_run
    assert cli(["push", str(run), REPO, "--local", str(tmp_path / "repo")]) == 0
    cache = tmp_path / "hub_cache"
    lay_into_hub_cache(tmp_path / "repo", cache, REPO)
    (info,) = hub.scan_cache_dir(cache).repos  # the library recognises the layout
    assert info.repo_id == REPO and {f.file_name for f in next(iter(info.revisions)).files} >= {"config.yaml"}
    out = tmp_path / "visual.safetensors"
    done = _avssl(
        [
            "export",
            "--run",
            f"hf-hub:{REPO}",
            "--part",
            "visual",
            "--format",
            "safetensors",
            "--out",
            str(out),
        ],
        cache,
    )
    assert done.returncode == 0, done.stderr
    exported = load_file(str(out))
    for key, value in task.visual_encoder.state_dict().items():
        assert torch.equal(exported[key], value), key


def test_hub_failures_are_one_line(evaluated_run, tmp_path: Path) -> None:
    run, _ = evaluated_run
    cache = tmp_path / "empty_cache"
    done = _avssl(
        [
            "export",
            "--run",
            "hf-hub:someone/absent",
            "--part",
            "visual",
            "--format",
            "safetensors",
            "--out",
            str(tmp_path / "x"),
        ],
        cache,
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0].startswith("avssl export: error: hf-hub:someone/absent: cannot get the repository")
    done = _avssl(["push", str(run), REPO], cache)  # offline: the Hub cannot be reached
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0].startswith(f"avssl push: error: cannot push {run} to {REPO}")
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    assert cli(["push", str(unfinished), REPO, "--local", str(tmp_path / "r")]) == 2
