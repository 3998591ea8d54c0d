"""Wall time of every executed notebook of a profile, from papermill's own records, as a benchmark JSON.

    python scripts/pipeline_timings.py --profile embedded --note "2 jobs at once, 1 thread each"
    python scripts/pipeline_timings.py --runs "*vqgan*" "*mage*" --label mage --note "..."

Reads ``runs/<profile>/*.ipynb`` (written by ``make reproduce`` / ``l2l_utils.sweep``), or those that
match ``--runs``: papermill stores each notebook's start and end time. Writes
``results/benchmarks/pipeline_<profile>[_<label>]_cpu.json`` (rendered by
``scripts/benchmarks_markdown.py``); a label keeps a rerun of some notebooks apart from the whole
pipeline's record. The note says how the runs shared the machine.
"""
import argparse
import datetime
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).parent.parent / "benchmarks"))
from common import provenance, save  # noqa: E402

from l2l_utils import PROJECT_ROOT  # noqa: E402


def notebook_seconds(path: Path) -> float | None:
    meta = nbformat.read(path, as_version=4).metadata.get("papermill", {})
    if not meta.get("start_time") or not meta.get("end_time") or meta.get("exception"):
        return None
    start, end = (datetime.datetime.fromisoformat(meta[k]) for k in ("start_time", "end_time"))
    return (end - start).total_seconds()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="embedded")
    ap.add_argument("--note", required=True, help="how the runs shared the machine (threads, jobs at once)")
    ap.add_argument("--runs", nargs="+", default=["*"], help="notebook name patterns (default: every notebook)")
    ap.add_argument("--label", help="names the record pipeline_<profile>_<label>_cpu (needed with --runs)")
    args = ap.parse_args(argv)
    if (args.runs != ["*"]) != bool(args.label):
        raise SystemExit("--runs and --label go together: a subset must not overwrite the whole pipeline's record")
    folder = PROJECT_ROOT / "runs" / args.profile
    rows = []
    for path in sorted({p for pattern in args.runs for p in folder.glob(f"{pattern}.ipynb")}):
        seconds = notebook_seconds(path)
        if seconds is not None:
            rows.append({"run": path.stem, "seconds": round(seconds, 1)})
    if not rows:
        raise SystemExit(f"no finished notebooks matching {' '.join(args.runs)} in runs/{args.profile}/")
    rows.append({"run": "sum", "seconds": round(sum(r["seconds"] for r in rows), 1)})
    name = f"pipeline_{args.profile}_{args.label}" if args.label else f"pipeline_{args.profile}"
    save(f"{name}_cpu", {**provenance("cpu"), "profile": args.profile, "note": args.note, "rows": rows})


if __name__ == "__main__":
    main()
