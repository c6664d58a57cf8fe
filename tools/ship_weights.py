"""Copy a finished run's best weights into the package (src/saga_attention/weights/<model>.safetensors), with
the command that trained them, what they were trained on and their validation scores as metadata.

    PYTHONPATH=src python3 tools/ship_weights.py runs/saga_llie_tiny-lowlight-<time>

The model must name the file in its ModelConfig (`weights=`, in its model file's default_cfgs).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from saga_attention.models import model_config, parse_model_spec, read_checkpoint
from saga_attention.models.checkpoint import write_safetensors
from saga_attention.models.registry import WEIGHTS_DIR


def refuse(message: str) -> None:
    print(f"ship_weights.py: error: {message}", file=sys.stderr)
    sys.exit(2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a finished run folder of saga train")
    args = parser.parse_args()
    run = Path(args.run)
    missing = [name for name in ("summary.json", "best.safetensors", "command.txt") if not (run / name).is_file()]
    if missing:
        refuse(f"{run} is not a finished run of saga train (no {', '.join(missing)})")
    summary = json.loads((run / "summary.json").read_text())
    tensors, metadata = read_checkpoint(run / "best.safetensors")
    model = parse_model_spec(metadata["model"]).name           # a spec names the model and its options
    if not model_config(model).weights:
        refuse(f"{model} names no weights file in its ModelConfig; add weights= there first")
    command = (run / "command.txt").read_text().strip().splitlines()[0].split("  #")[0]
    extra = {"command": re.sub(r" out=\S+", "", command), "data": summary["data"], "epochs": str(summary["epochs"]),
             f"best_{summary['best_metric']}": f"{summary['best_' + summary['best_metric']]:.4f}"}
    path = write_safetensors(tensors, WEIGHTS_DIR / model_config(model).weights, {**metadata, **extra})
    print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB): {json.dumps(extra)}")


if __name__ == "__main__":
    main()
