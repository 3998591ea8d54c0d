"""Print a recorded result as the Markdown tables the README shows.

    python scripts/results_markdown.py results/embedded/05_unlearn_mae.json
"""
import sys

from l2l_utils.io import read_json
from l2l_utils.plots import metrics_table, to_markdown


def main(path: str):
    result = read_json(path)
    metrics = result["metrics"]
    models = sorted({k.split("/")[0] for k in metrics if k.count("/") == 3 and not k.startswith("claim/")})
    meta = result["meta"]
    print(f"profile `{meta['profile']}`, seed {meta['seed']}, device {meta['device']}, backbone {meta['backbone']}\n")
    table = metrics_table(metrics, models)
    keep = [c for c in table.columns if c[1].startswith(("fid", "is_mean", "cosine", "hole_mse"))]
    print(to_markdown(table[keep]))
    claims = {k[len("claim/"):]: v for k, v in metrics.items() if k.startswith("claim/")}
    if claims:
        print("\n" + " | ".join(["task/check", "value"]) + "\n--- | ---")
        for k, v in sorted(claims.items()):
            print(f"{k} | {v:.3f}")


if __name__ == "__main__":
    main(sys.argv[1])
