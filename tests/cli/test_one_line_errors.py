"""The README's promise, command by command: bad input is one line on stderr and exit 2, not a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from avssl.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _one_line(capsys, *needles: str) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1, err
    for needle in needles:
        assert needle in err[0], err[0]
    return err[0]


def test_out_naming_an_existing_file_or_a_directory(tmp_path, capsys):
    taken = tmp_path / "taken.txt"
    taken.write_text("mine")
    assert main(["synth", "--layout", "folder", "--n", "1", "--out", str(taken)]) == 2
    _one_line(capsys, str(taken), "existing file")
    assert taken.read_text() == "mine"
    assert main(["selfcheck", "--out", str(taken / "sub")]) == 2
    _one_line(capsys, str(taken), "is a file, not a directory")
    np.savez(tmp_path / "e.npz", video=np.eye(3, dtype=np.float32), audio=np.eye(3, dtype=np.float32))
    assert main(["eval", "retrieval", "--embeddings", str(tmp_path / "e.npz"), "--out", str(tmp_path)]) == 2
    _one_line(capsys, "is a directory")


def test_corrupt_safetensors_in_a_run_dir(tmp_path, capsys):
    run = tmp_path / "run"
    (run / "model").mkdir(parents=True)
    (run / "config.yaml").write_text(
        yaml.safe_dump({"task": "av_contrastive", "data": {"root": str(tmp_path)}})
    )
    weights = run / "model" / "model.safetensors"
    weights.write_bytes(b"not safetensors at all" * 10)
    assert main(["embed", "--run", str(run), "--out", str(tmp_path / "e.npz")]) == 2
    _one_line(capsys, str(weights), "not a readable safetensors file")


@pytest.mark.parametrize("kind", ["text", "truncated", "missing_audio"])
def test_bad_or_incomplete_embeddings_npz(tmp_path, capsys, kind):
    path = tmp_path / "e.npz"
    np.savez(path, video=np.eye(4, dtype=np.float32), audio=np.eye(4, dtype=np.float32))
    if kind == "text":
        path.write_text("these are not embeddings")
    elif kind == "truncated":
        path.write_bytes(path.read_bytes()[:200])
    else:
        np.savez(path, video=np.eye(4, dtype=np.float32))
    assert main(["eval", "retrieval", "--embeddings", str(path), "--out", str(tmp_path / "m.json")]) == 2
    _one_line(capsys, str(path))


@pytest.mark.parametrize(
    "argv",
    [
        ["localize", "v.mp4", "--run", "r", "--out", "o", "--stride-s", "0"],
        ["localize", "v.mp4", "--run", "r", "--out", "o", "--window-s", "-1"],
        ["decode", "v.mp4", "--fps", "0"],
        ["decode", "v.mp4", "--size", "-4"],
        ["synth", "--layout", "folder", "--out", "o", "--size", "0"],
        ["synth", "--layout", "folder", "--out", "o", "--fps", "-2"],
    ],
)
def test_zero_or_negative_sizes_and_rates(tmp_path, monkeypatch, capsys, argv):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    flag = next(a for a in argv if a.startswith("--") and a != "--out" and a != "--run" and a != "--layout")
    _one_line(capsys, flag, "greater than 0")


def test_probe_reports_every_bad_file(tmp_path, capsys):
    bad = [tmp_path / "a.mp4", tmp_path / "b.mp4"]
    for path in bad:
        path.write_text("junk")
    assert main(["probe", str(bad[0]), str(tmp_path / "missing.mp4"), str(bad[1])]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(
        p.name in line for p, line in zip([*bad[:1], tmp_path / "missing.mp4", bad[1]], err)
    )


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("no.such.key=1", "unknown config key 'no'"),
        ("train.max_steps=abc", "expected an int"),
        ("x", "key=value"),
    ],
)
def test_recipe_config_error_is_one_line(tmp_path, override, needle):
    result = subprocess.run(
        [sys.executable, str(ROOT / "recipes" / "av_contrastive.py"), f"output_dir={tmp_path}", override],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("av_contrastive.py: error:") and needle in lines[0]
