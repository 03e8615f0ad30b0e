"""Retrieval evaluation benchmark: avssl's chunked `retrieval_metrics` vs the naive full-matrix computation.

    python benchmarks/retrieval_eval.py [--quick] [--sizes 10000 20000 30000] [--avssl-only 100000]
                                        [--threads T] [--json out.json]

Data: random correlated embeddings, D=128: video v ~ N(0, I), audio a = v + 3·N(0, I) (R@1 around 40 %
at N=10k, so ranks are spread and many true scores sit inside the bulk of the candidates' scores).

Methods (both give video→audio and audio→video R@1/5/10, MedR, MeanR with pessimistic ranks):
  avssl  `avssl.evaluation.retrieval.retrieval_metrics(v, a)`: 2048×2048 blocks, float64 scores rounded
         to 1e-9 so that exact ties stay ties.
  naive  what one writes by hand: per direction sim = normalize(q) @ normalize(c).T in float32 over all N,
         rank = (sim >= sim.diagonal()[:, None]).sum(1) (the N×N matrix is freed between the two
         directions), metrics in numpy.

Each (N, method) runs in its own child process (`--child`), so its peak memory is clean: peak MB =
ru_maxrss at the end of the child minus ru_maxrss after the imports and after the embeddings were made
(the two N×128 inputs are not counted; they are the same for both methods). Seconds = wall time of the
metric computation alone. At each size the two methods run back to back, order alternating.

"Same numbers": at every common size the metrics of the two are compared. They can differ only where the
float32 score of a candidate and the true pair's score are within float32 rounding of each other (a near
tie that float32 and float64 order differently); at the first size the per-query ranks are compared too
(an extra, untimed `retrieval_ranks` call in the avssl child) and the number of differing queries printed.

The naive method is not run at N=100k: its N×N float32 matrix alone is 100k² × 4 B = 40 GB, more than
this machine's 24 GB of RAM; its time and memory there are extrapolated (time ∝ N², memory ∝ N²).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DIM = 128
NOISE = 3.0
SEED = 0


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def naive_ranks(queries, candidates):
    import torch.nn.functional as F

    q, c = F.normalize(queries, dim=1), F.normalize(candidates, dim=1)
    sim = q @ c.T  # (N, N) float32
    return (sim >= sim.diagonal()[:, None]).sum(1)


def naive_metrics(ranks) -> dict:
    import numpy as np

    r = ranks.numpy().astype(np.float64)
    return {
        "R@1": float(100 * np.mean(r <= 1)),
        "R@5": float(100 * np.mean(r <= 5)),
        "R@10": float(100 * np.mean(r <= 10)),
        "MedR": float(np.median(r)),
        "MeanR": float(np.mean(r)),
    }


def child(method: str, n: int, threads: int | None, ranks_out: str | None) -> None:
    import numpy as np
    import torch

    from avssl.evaluation.retrieval import retrieval_metrics, retrieval_ranks

    if threads:
        torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(SEED)
    video = torch.randn(n, DIM, generator=g)
    audio = torch.randn(n, DIM, generator=g)
    audio.mul_(NOISE).add_(video)  # in place: no temporaries to raise the baseline
    base = peak_mb()
    t0 = time.perf_counter()
    if method == "avssl":
        out = retrieval_metrics(video, audio)
        metrics = {"video_to_audio": out["video_to_audio"], "audio_to_video": out["audio_to_video"]}
        ranks = None
    else:
        v2a = naive_ranks(video, audio)
        a2v = naive_ranks(audio, video)
        metrics = {"video_to_audio": naive_metrics(v2a), "audio_to_video": naive_metrics(a2v)}
        ranks = (v2a, a2v)
    seconds = time.perf_counter() - t0
    peak = peak_mb() - base
    if ranks_out:
        if ranks is None:  # untimed, after the peak was read
            ranks = (retrieval_ranks(video, audio), retrieval_ranks(audio, video))
        np.save(ranks_out, np.stack([r.numpy() for r in ranks]))
    print(json.dumps({"method": method, "n": n, "seconds": seconds, "peak_mb": peak, "metrics": metrics}))


def run_child(method: str, n: int, threads: int | None, ranks_out: Path | None) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", method, "--n", str(n)]
    if threads:
        cmd += ["--threads", str(threads)]
    if ranks_out is not None:
        cmd += ["--ranks-out", str(ranks_out)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"child {method} N={n} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def compare(a: dict, b: dict) -> list[str]:
    """Differences between two metric dicts (both directions), as text."""
    diffs = []
    for direction in ("video_to_audio", "audio_to_video"):
        for key, value in a[direction].items():
            other = b[direction][key]
            if value != other:
                diffs.append(f"{direction} {key}: avssl {value!r} vs naive {other!r}")
    return diffs


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="sizes 2k, 4k, 8k and avssl-only 20k")
    parser.add_argument("--sizes", type=int, nargs="+", default=None, help="sizes for both methods")
    parser.add_argument("--avssl-only", type=int, nargs="*", default=None, help="sizes for avssl alone")
    parser.add_argument("--threads", type=int, default=None, help="torch threads in the children")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--child", choices=("avssl", "naive"), help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--ranks-out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.n, args.threads, args.ranks_out)
        return

    sizes = args.sizes or ([2000, 4000, 8000] if args.quick else [10000, 20000, 30000])
    only = args.avssl_only if args.avssl_only is not None else ([20000] if args.quick else [100000])
    rows: list[dict] = []
    notes: list[str] = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="avssl_bench_retrieval_") as tmp:
        for i, n in enumerate(sorted(sizes)):
            order = ("avssl", "naive") if i % 2 == 0 else ("naive", "avssl")
            res = {}
            for method in order:
                ranks_out = Path(tmp) / f"{method}_{n}.npy" if i == 0 else None
                res[method] = run_child(method, n, args.threads, ranks_out)
                print(
                    f"  N={n:>6d} {method:5s} {res[method]['seconds']:7.2f} s "
                    f"{res[method]['peak_mb']:8.0f} MB",
                    flush=True,
                )
            rows += [res["avssl"], res["naive"]]
            diffs = compare(res["avssl"]["metrics"], res["naive"]["metrics"])
            notes.append(f"N={n}: " + ("identical metrics" if not diffs else "; ".join(diffs)))
            if i == 0:
                import numpy as np

                ra, rn = np.load(Path(tmp) / f"avssl_{n}.npy"), np.load(Path(tmp) / f"naive_{n}.npy")
                differ = int((ra != rn).sum())
                notes.append(
                    f"N={n}: per-query ranks differ for {differ} of {ra.size} queries (both directions)"
                    + (f", max |Δrank| {int(np.abs(ra - rn).max())}" if differ else "")
                )
        for n in only:
            rows.append(run_child("avssl", n, args.threads, None))
            print(f"  N={n:>6d} avssl {rows[-1]['seconds']:7.2f} s {rows[-1]['peak_mb']:8.0f} MB", flush=True)

    print()
    print(
        f"Retrieval eval, D={DIM}, both directions (R@1/5/10, MedR, MeanR); total {time.perf_counter() - start:.0f} s"
    )
    print(
        f"{'N':>7s} {'method':6s} {'seconds':>8s} {'peak MB':>8s} {'R@1 v2a':>8s} {'time avssl/naive':>16s} {'mem naive/avssl':>15s}"
    )
    by = {(r["n"], r["method"]): r for r in rows}
    largest = max(sizes)
    for r in rows:
        n, m = r["n"], r["method"]
        t_ratio = m_ratio = ""
        if m == "naive":
            t_ratio = f"{by[(n, 'avssl')]['seconds'] / r['seconds']:.2f}x"
            m_ratio = f"{r['peak_mb'] / max(by[(n, 'avssl')]['peak_mb'], 1):.1f}x"
        print(
            f"{n:7d} {m:6s} {r['seconds']:8.2f} {r['peak_mb']:8.0f} "
            f"{r['metrics']['video_to_audio']['R@1']:8.2f} {t_ratio:>16s} {m_ratio:>15s}"
        )
        if m == "avssl" and (n, "naive") not in by:
            ref = by[(largest, "naive")]
            scale = (n / largest) ** 2
            print(
                f"{n:7d} {'naive':6s} {'~' + format(ref['seconds'] * scale, '.0f'):>8s} "
                f"{'~' + format(ref['peak_mb'] * scale, '.0f'):>8s} {'not run':>8s} "
                f"{'~' + format(r['seconds'] / (ref['seconds'] * scale), '.2f') + 'x':>16s} "
                f"{'~' + format(ref['peak_mb'] * scale / max(r['peak_mb'], 1), '.0f') + 'x':>15s}"
            )
            need_gb = n * n * 4 / 1e9
            ram_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
            why = f"> this machine's {ram_gb:.0f} GB of RAM" if need_gb > ram_gb else "avssl-only size"
            notes.append(
                f"N={n}: naive not run: its {n}x{n} float32 matrix alone needs {need_gb:.1f} GB ({why}); "
                f"'~' = extrapolated from N={largest} (time and memory ∝ N²)"
            )
    print("peak MB = child's ru_maxrss at the end minus after imports + inputs; ratios at equal N.")
    for note in notes:
        print("  " + note)
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "notes": notes}, indent=2))


if __name__ == "__main__":
    main()
