"""`avssl import-checkpoint KIND FILE --out RUN`: an author-released checkpoint as a normal avssl run.

The run directory written (atomically: a temporary folder beside RUN, renamed at the end):

    RUN/config.yaml             the resolved recipe config of the kind's task: the released architecture and
                                the authors' test input (``data.eval_input``, ``data.eval_transforms``, the
                                audio front end), headed by a comment with the file's provenance
    RUN/model/model.safetensors the mapped weights, loaded strictly into the task before writing
    RUN/model/config.yaml       a copy of config.yaml (as a trained run's ``model/``)
    RUN/SOURCE.md               kind, paper, where the authors publish the file, its name, size and sha256,
                                what was mapped, what was not used and why

`load_run`, `avssl eval localization --run`, `avssl localize` then use it like any run. A kind that does not
fit the file (another model's keys, a missing key, a different shape) is one CheckpointError naming the file
and the first key, and says which kind the file looks like when another kind fits it.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml
from safetensors.torch import save_file
from torch import Tensor

from avssl.config import ConfigError, from_dict, from_saved_dict, to_dict
from avssl.published import PUBLISHED
from avssl.published.base import CheckpointError, MappedState, PublishedModel
from avssl.published.reader import ReleasedFile, read_released


@dataclass
class ImportReport:
    """What an import wrote: the run directory, the file's sha256, the mapped and ignored counts."""

    run: Path
    sha256: str
    mapped: int
    ignored: int


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _published(kind: str) -> PublishedModel:
    if kind not in PUBLISHED:
        raise ConfigError(f"unknown published model {kind!r}; known: {', '.join(sorted(PUBLISHED))}")
    return PUBLISHED[kind]


def _map(published: PublishedModel, released: ReleasedFile) -> MappedState:
    """The kind's map of the file; on failure one line naming the file, the first key, and the kind the
    file looks like when another kind maps it."""
    try:
        return published.map_state(released.state)
    except CheckpointError as err:
        look_alike = []
        for other in PUBLISHED.values():
            if other.kind == published.kind:
                continue
            try:
                other.map_state(released.state)
                look_alike.append(other.kind)
            except CheckpointError:
                pass
        hint = f" (its keys are those of a {look_alike[0]!r} checkpoint)" if look_alike else ""
        raise CheckpointError(f"{released.path}: not a {published.kind!r} checkpoint: {err}{hint}") from None


def resolved_config(published: PublishedModel, companions: dict[str, Path], out: Path) -> dict:
    """The kind's run config (with what its companions add) resolved against the task's recipe schema, so
    config.yaml states every default as a trained run's does."""
    from avssl.runner.data_facts import derive_data_facts
    from avssl.runner.specs import recipe_schema

    partial = published.run_config()
    for name in companions:
        published.companions[name].configure(partial)
    cfg = from_dict(recipe_schema(partial["task"]), {**partial, "output_dir": str(out)})
    return to_dict(derive_data_facts(cfg))


def _check_loads(config: dict, state: dict[str, Tensor], origin: str) -> None:
    """Build the config's task and load ``state`` strictly (a kind's map and its config must agree)."""
    from avssl.tasks import TASKS

    config_cls, builder = TASKS[config["task"]]
    task = builder(from_saved_dict(config_cls, config["model"]))
    missing, unexpected = task.load_state_dict(state, strict=False)
    if missing or unexpected:
        first = (missing or unexpected)[0]
        raise CheckpointError(f"{origin}: key {first!r} does not fit the {config['task']} model")


def _source_md(published: PublishedModel, files: dict[str, tuple[ReleasedFile, str]], maps: list) -> str:
    lines = [f"# Imported published model: {published.kind}", "", f"- Paper: {published.paper}"]
    lines += [f"- Released by the authors at: {published.source}"]
    for role, (released, digest) in files.items():
        where = f"under `{released.container}`" if released.container else "at the top level"
        lines += [
            f"- {role}: `{released.path.name}` ({released.path.stat().st_size} bytes), sha256 `{digest}`;",
            f"  state dict {where}, {len(released.state)} tensors",
        ]
    lines += ["", "## Mapped (released → avssl)", ""]
    lines += [f"- {line}" for mapped in maps for line in mapped.mapped]
    lines += ["", "## Not used", ""]
    ignored = [key for mapped in maps for key in mapped.ignored]
    lines += [f"- parameters the released model holds but its maps never use: {', '.join(ignored) or 'none'}"]
    for released, _ in files.values():
        if released.momentum:
            lines.append(f"- momentum / EMA copies: {', '.join(released.momentum[:12])}")
        if released.other:
            lines.append(
                f"- other entries of the file (optimizer, training state): {', '.join(released.other)}"
            )
    lines += ["", "The run's config.yaml holds the released architecture and the authors' test input."]
    return "\n".join(lines) + "\n"


def import_checkpoint(
    kind: str, file: str | Path, out: str | Path, companions: dict[str, str | Path] | None = None
) -> ImportReport:
    """Import the released ``file`` of ``kind`` (a key of ``PUBLISHED``) as the run directory ``out``;
    ``companions``: extra files the kind takes (EZ-VSL: ``{"ogl_weights": resnet18.pth}``)."""
    published, out = _published(kind), Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(
            f"--out {out} exists and is not empty: give a new run directory (nothing is overwritten)"
        )
    extra = {name: Path(path) for name, path in (companions or {}).items() if path is not None}
    unknown = sorted(set(extra) - set(published.companions))
    if unknown:
        raise ConfigError(f"{kind} takes no --{unknown[0].replace('_', '-')} file")
    needed = sorted(name for name, c in published.companions.items() if c.required and name not in extra)
    if needed:
        flag = "--" + needed[0].replace("_", "-")
        raise ConfigError(f"{kind} needs {flag} FILE: {published.companions[needed[0]].help}")
    released = read_released(file)
    maps, files = [_map(published, released)], {"checkpoint": (released, sha256_of(released.path))}
    for name, path in extra.items():
        companion = read_released(path)
        try:
            maps.append(published.companions[name].map_state(companion.state))
        except CheckpointError as err:
            raise CheckpointError(f"{path}: {err}") from None
        files[name.replace("_", "-")] = (companion, sha256_of(companion.path))
    state = {k: v.contiguous() for mapped in maps for k, v in mapped.state.items()}
    config = resolved_config(published, extra, out)
    _check_loads(config, state, str(released.path))
    _write_run(out, config, state, _source_md(published, files, maps), files["checkpoint"][1], kind)
    return ImportReport(out, files["checkpoint"][1], len(state), sum(len(m.ignored) for m in maps))


def _write_run(
    out: Path, config: dict, state: dict[str, Tensor], source: str, digest: str, kind: str
) -> None:
    tmp = out.with_name(f".{out.name}.import.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        (tmp / "model").mkdir(parents=True)
        header = f"# avssl import-checkpoint {kind}: released file sha256 {digest} (see SOURCE.md)\n"
        text = header + yaml.safe_dump(config, sort_keys=False)
        (tmp / "config.yaml").write_text(text)
        (tmp / "model" / "config.yaml").write_text(text)
        save_file(state, str(tmp / "model" / "model.safetensors"))
        (tmp / "SOURCE.md").write_text(source)
        if out.exists():
            out.rmdir()  # empty (checked above)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
