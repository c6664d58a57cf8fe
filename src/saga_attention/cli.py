"""The `saga` command: models, bench, report, demo, train, eval, enhance, rank, cache. Argument parsing only; the
work lives in the modules.

One convention for every subcommand (CONVENTION below, printed by `saga --help`). Bad input is one line on
stderr saying what was wrong and what is expected, exit code 2, before anything is written; Ctrl-C is exit code
130 (during training, with the command that resumes). SAGA_DEBUG=1 shows tracebacks.
"""
from __future__ import annotations

import argparse
import difflib
import json
import os
import shlex
import sys
from pathlib import Path

from .configs import recipe_names
from .enhancement.images import DEFAULT_MAX_PIXELS
from .version import __version__

# Everything that imports torch is imported by the command that needs it, so that `saga --help` answers at once.

CONVENTION = """conventions, the same for every command:
  options      --name value, or name=value: the two spellings mean the same (flags: --name, or name=true).
               saga train and saga eval also take every training setting this way (saga train --print-config
               lists them): saga train --epochs 10 is saga train epochs=10.
  the model    --model, wherever a model is taken: a registered name with options after a colon
               (saga_pvt_tiny:gate_bias_init=2; see saga models), a .safetensors file written by this package
               (it names its model) or a run folder of saga train. bench and rank take several, comma-separated.
  the output   --out is the folder a command writes into: new or empty (default runs/<command>-<time>);
               enhance writes into it without touching files it did not make. Nothing is written before every
               input is checked.
  exit codes   0 done; 1 some files of a batch failed (named on stderr); 2 bad input (one line on stderr,
               nothing written); 130 interrupted (training says how to resume)."""
SETTINGS_COMMANDS = ("train", "eval")     # commands that take the training settings besides their own options
TRUE, FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _specs(text: str) -> list[str]:
    from .models import split_specs

    return split_specs(text)


def _whole(low: int, many: bool = False):
    """An argparse type: a whole number >= low (many: a comma-separated list of them)."""
    def parse(text: str) -> int | list[int]:
        try:
            values = [int(t) for t in (_csv(text) if many else [text])]
        except ValueError:
            values = []
        if not values or min(values) < low:
            raise argparse.ArgumentTypeError(
                f"expected {'comma-separated whole numbers' if many else 'a whole number'} >= {low}"
                f"{', e.g. 1,8' if many else ''}; got {text!r}")
        return values if many else values[0]
    return parse


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds; got {text!r}")
    return value


def cmd_models(args: argparse.Namespace) -> int:
    from .bench.flops import model_stats
    from .models import check_input_size, list_models, model_config, model_tasks, shipped_models

    if args.task and args.task not in model_tasks():
        raise ValueError(f"--task must be one of {', '.join(model_tasks())}; got {args.task!r}")
    names = list_models(args.pattern, task=args.task)
    if not names:
        raise ValueError(f"no model matches {args.pattern!r}" + (f" for task {args.task}" if args.task else "")
                         + f"; known: {', '.join(list_models())}")
    for name in names:
        check_input_size(name, args.res, args.res)
    shipped = set(shipped_models())
    print(f"{'model':<22}{'task':<10}{'params (M)':>12}{'GFLOPs':>10}{'GMACs':>9}  weights   (at {args.res}x"
          f"{args.res}, batch 1)")
    for name in names:
        s = model_stats(name, args.res)
        print(f"{name:<22}{model_config(name).task:<10}{s['params_m']:>12.2f}{s['gflops']:>10.2f}{s['gmacs']:>9.2f}"
              f"  {'shipped' if name in shipped else '-'}")
    print("GFLOPs from torch's FLOP counter (2 per multiply-add); the PVT paper's 'GFLOPs' are GMACs. Shipped "
          "weights load with create_model(name, pretrained=True) or saga enhance --model name.")
    return 0


def _write_table_and_plot(records: list[dict], stem: Path) -> None:
    from .bench.report import markdown, plot

    table = markdown(records)
    stem.with_suffix(".md").write_text(table)
    plot(records, stem.with_suffix(".png"))
    print(table)
    print(f"wrote {stem.with_suffix('.md')} and {stem.with_suffix('.png')}")


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench.report import write_json
    from .bench.runner import TASK_DEFAULTS, run_sweep, suite_parts
    from .measure import environment, resolve_device
    from .runs import new_run_dir

    device = resolve_device(args.device)
    if args.task not in TASK_DEFAULTS:
        raise ValueError(f"--task must be one of {', '.join(TASK_DEFAULTS)}; got {args.task!r}")
    defaults = TASK_DEFAULTS[args.task]
    sweeps = suite_parts(args.suite) if args.suite else [
        {"models": defaults["models"] if args.models is None else args.models,
         "resolutions": defaults["resolutions"] if args.res is None else args.res,
         "batches": args.batch, "dtypes": args.dtype, "modes": args.mode}]
    records = [r for sweep in sweeps for r in run_sweep(**sweep, device=device, warmup=args.warmup,
                                                        repeats=args.repeats, time_limit=args.time_limit)]
    json_path = Path(args.json) if args.json else new_run_dir("runs", "bench") / "bench.json"
    json_path.parent.mkdir(parents=True, exist_ok=True)
    write_json(json_path, records, environment(device), args.command)
    print(f"wrote {json_path}")
    _write_table_and_plot(records, json_path)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .bench.report import read_records
    from .runs import check_new_run_dir

    out = check_new_run_dir(Path(args.out), ("report.md", "report.png")) if args.out else None
    records = read_records(args.json)
    if out:
        out.mkdir(parents=True, exist_ok=True)
    _write_table_and_plot(records, out / "report" if out else Path(args.json[0]))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo
    from .measure import resolve_device
    from .runs import check_new_run_dir, new_run_dir

    resolve_device(args.device)
    out = Path(args.out) if args.out else new_run_dir("runs", "demo", create=False)
    check_new_run_dir(out)
    run_demo(out, args.device, args.res, args.dtype, args.repeats, args.command, args.train_epochs)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from .train import load_config, run_config, to_yaml, train

    if args.resume:
        run_dir = Path(args.resume)
        config = run_config(run_dir, args.overrides)
    else:
        config, run_dir = load_config(args.config, args.overrides), None
    if args.print_config:
        print(to_yaml(config), end="")
        return 0
    train(config, run_dir, resume=bool(args.resume), command=args.command)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from .train import run_eval

    metrics = run_eval(args.model, args.overrides)
    print(f"{metrics['model']} on {metrics['data']} ({metrics['count']} samples): {metrics['summary']}"
          + (f"; skipped {metrics['skipped']} unreadable file(s)" if metrics["skipped"] else ""))
    if args.json:
        Path(args.json).write_text(json.dumps(metrics, indent=2) + "\n")
    return 0


def _megabytes(text: str) -> float:
    """'4096' (MiB), '4G', '512M' -> bytes."""
    units = {"k": 2**10, "m": 2**20, "g": 2**30}
    scale = units.get(text[-1:].lower(), 2**20)
    try:
        value = float(text[:-1] if text[-1:].lower() in units else text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a size like 4096 (MiB), 512M or 4G; got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"the memory limit must be positive; got {text!r}")
    return value * scale


def cmd_enhance(args: argparse.Namespace) -> int:
    from .enhancement import Enhancer, enhance_files, plan_jobs
    from .enhancement.files import output_root

    if args.max_pixels <= 0:
        raise ValueError(f"--max-pixels must be positive; got {args.max_pixels}")
    enhancer = Enhancer(args.model, args.device, args.dtype, args.max_memory, args.tile, args.strength,
                        args.band)
    jobs = plan_jobs(args.inputs, args.out, args.overwrite, args.compare)   # the last check; makes the folder
    print(f"enhancing {len(jobs)} photo(s) with {enhancer.describe()}", flush=True)
    counts = enhance_files(jobs, enhancer, output_root(len(jobs), args.out), args.max_pixels)
    print(f"wrote {counts['written']} to {args.out}"
          + (f"; skipped {counts['skipped']} whose output exists (--overwrite replaces them)"
             if counts["skipped"] else "")
          + (f"; {counts['failed']} failed (named above)" if counts["failed"] else ""))
    return 1 if counts["failed"] else 0


def cmd_rank(args: argparse.Namespace) -> int:
    from .measure import resolve_device
    from .runs import check_new_run_dir, new_run_dir
    from .study import run_rank

    out = Path(args.out) if args.out else new_run_dir("runs", "rank", create=False)
    check_new_run_dir(out, ("rank.json", "rank.md", "rank.png"))
    device = str(resolve_device(args.device))
    run_rank(args.sources, out, args.res, args.images, args.image_dir, args.map_tokens, device)
    return 0


def _size(text: str) -> tuple[int, int]:
    """'224' or '256x320' -> (height, width)."""
    parts = text.lower().split("x")
    try:
        sides = tuple(int(p) for p in parts)
    except ValueError:
        sides = ()
    if len(sides) not in (1, 2) or min(sides) < 1:
        raise argparse.ArgumentTypeError(f"expected a size like 224 or 256x320 (height x width); got {text!r}")
    return (sides[0], sides[-1])


def cmd_export(args: argparse.Namespace) -> int:
    if args.model and args.model_option and args.model != args.model_option:
        raise ValueError(f"two models given ({args.model} and --model {args.model_option}); give one")
    model = args.model or args.model_option
    if not model:
        raise ValueError("give the model to export: saga export MODEL --onnx OUT.onnx (a name, .safetensors file "
                         "or run folder)")
    if Path(args.onnx).exists() and not args.overwrite:
        raise ValueError(f"{args.onnx} exists; give another file or --overwrite")
    from .export import export_onnx

    info = export_onnx(model, args.onnx, args.size, check=not args.no_check)
    error = info["max_relative_error"]
    print(f"wrote {info['file']} ({info['bytes'] / 2**20:.1f} MiB): {info['model']} with {info['weights']}, "
          f"dynamic batch, height and width ({info['sides']}); "
          + ("not checked" if error is None else f"onnxruntime agrees with PyTorch to {error:.1e} (relative)"))
    return 0


def cmd_cache(args: argparse.Namespace) -> int:
    from .data.cache import cache_dir, cache_files, clear_cache
    from .runs import human_bytes

    if args.clear:
        files, size = clear_cache()
        print(f"removed {files} file(s), {human_bytes(size)}, from {cache_dir()}")
        return 0
    files = cache_files()
    print(f"{cache_dir()} (set SAGA_CACHE to move it): {len(files)} file(s), "
          f"{human_bytes(sum(p.stat().st_size for p in files))}; saga cache --clear empties it")
    for path in files:
        print(f"  {path.name}  {human_bytes(path.stat().st_size)}")
    return 0


class Parser(argparse.ArgumentParser):
    """argparse, strict and with usage errors as one line: 'saga train: error: ... (see saga train --help)'."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def long_options(self) -> dict[str, argparse.Action]:
        return {o: a for a in self._actions for o in a.option_strings if o.startswith("--")}


def _examples(*commands: str) -> str:
    return "examples:\n" + "\n".join(f"  {c}" for c in commands)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="saga", description="SAGA linear attention: models, benchmarks, reports, demo, training, "
                                             "low-light enhancement.", epilog=CONVENTION)
    parser.add_argument("--version", action="version", version=f"saga-attention {__version__}")
    sub = parser.add_subparsers(dest="command_name", required=True, parser_class=Parser)

    p = sub.add_parser("models", help="list registered models with parameters and FLOPs",
                       epilog=_examples("saga models 'saga_*'", "saga models --task enhance --res 256"))
    p.add_argument("pattern", nargs="?", default="*", help="shell-style filter, e.g. 'saga_*'")
    p.add_argument("--task", help="only the models built for this task (classify or enhance)")
    p.add_argument("--res", type=_whole(1), default=224, help="input size for the FLOP count (default 224)")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("bench", help="throughput and peak memory across models, resolutions, dtypes, modes",
                       epilog=_examples("saga bench --model pvt_tiny,saga_pvt_tiny --res 224 --repeats 3 "
                                        "--json runs/bench-example/bench.json",
                                        "saga bench --task enhance --model saga_llie_tiny,retinexformer --res 64x96 "
                                        "--repeats 2 --json runs/bench-example/enhance.json"))
    p.add_argument("--task", default="classify", choices=["classify", "enhance"],
                   help="classify (default models pvt_tiny,saga_pvt_tiny at 224) or enhance (every low-light net "
                        "and retinexformer, batch 1, at 400x600 to 4000x6000)")
    p.add_argument("--time-limit", type=_seconds, help="seconds per cell: each runs in its own process and is "
                                                       "stopped after this (recorded as time_limit; a cell killed by "
                                                       "the system as killed)")
    p.add_argument("--model", "--models", dest="models", type=_specs, default=None,
                   help="comma-separated model specs, options after a colon: pvt_tiny:impl=math,"
                        "saga_pvt_tiny:gate_bias_init=2.0,value_gate=false; '@compile' after a spec runs it under "
                        "torch.compile (fullgraph), '@reduce-overhead' the same with CUDA graphs, e.g. "
                        "saga_pvt_tiny@compile")
    p.add_argument("--suite", help="a built-in sweep instead of --model/--res/--batch/--dtype/--mode: 'paper' "
                                   "(the paper's efficiency table: PVT-T's attention, SDPA and SAGA at 1280 and "
                                   "2048, batch 8), or one part: paper:eager, paper:compiled, paper:train")
    p.add_argument("--res", type=_csv, default=None, help="comma-separated resolutions, N or HxW (default: the "
                                                          "task's)")
    p.add_argument("--batch", type=_whole(1, many=True), default=[1], help="comma-separated batch sizes (default 1)")
    p.add_argument("--dtype", type=_csv, default=["fp32"], help="comma-separated: fp32 (default), bf16, fp16")
    p.add_argument("--mode", type=_csv, default=["inference"],
                   help="comma-separated: inference (default), train (a step with AdamW), fwd-bwd (the same without "
                        "the optimizer)")
    p.add_argument("--device", default="auto", help="auto (default: cuda if available), cpu, cuda, cuda:N")
    p.add_argument("--warmup", type=_whole(0), default=3, help="untimed runs before the timed ones (default 3)")
    p.add_argument("--repeats", type=_whole(1), default=10, help="timed runs; the median is reported (default 10)")
    p.add_argument("--json", help="output JSON file (default runs/bench-<time>/bench.json); .md and .png beside it")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("report", help="the Markdown table and PNG plot again, from one or more bench JSON files",
                       epilog="Ratios are taken between records of one run (one JSON file); rows from different "
                              "files are marked, since they were not measured side by side.")
    p.add_argument("json", nargs="+", help="JSON files written by saga bench (their records are concatenated)")
    p.add_argument("--out", help="folder for report.md and report.png (default: beside the first JSON, as "
                                 "<name>.md and <name>.png)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("demo", help="the gate decomposition on photographs, then pvt_tiny vs saga_pvt_tiny",
                       epilog="About 3 minutes on a 2-core CPU with the defaults.")
    p.add_argument("--out", help="the demo's folder, new or empty (default runs/demo-<time>)")
    p.add_argument("--device", default="auto", help="auto (default: cuda if available), cpu, cuda, cuda:N")
    p.add_argument("--res", type=_whole(32, many=True), default=None,
                   help="comma-separated resolutions of the benchmark, multiples of 32 (default 224,512,1024)")
    p.add_argument("--dtype", default="fp32", choices=["fp32", "bf16", "fp16"], help="of the benchmark "
                                                                                     "(default fp32)")
    p.add_argument("--repeats", type=_whole(1), default=5, help="timed runs per benchmark cell (default 5)")
    p.add_argument("--train-epochs", type=_whole(0), default=4,
                   help="epochs of the short training run on a built-in task (default 4; 0 leaves it out)")
    p.set_defaults(func=cmd_demo)

    overrides_help = "settings as key=value or --key value (e.g. model=saga_pvt_tiny:gate_bias_init=2 epochs=10 " \
                     "data=/path/imagenet lr=1e-3); saga train --print-config lists them all"
    p = sub.add_parser("train", help="train a model through the engine (task=classify by default; the model's "
                                     "task otherwise); run it under torchrun for several GPUs",
                       epilog="On a 2-core CPU, saga train --config cpu takes about 25 s an epoch (10 epochs: 4-5 "
                              "minutes). The built-in tasks are generated once into $SAGA_CACHE (see saga cache).\n"
                              + _examples("saga train --config cpu --print-config",
                                          "saga train model=saga_pvt_tiny:gate_bias_init=2 epochs=10 --print-config",
                                          "saga train --model saga_llie_tiny --epochs 2 --print-config"))
    p.add_argument("overrides", nargs="*", help=overrides_help)
    p.add_argument("--config", help=f"a recipe ({', '.join(recipe_names())}) or a YAML file of settings "
                                    "(default: the task's own preset, procedural for classify)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue the run in this folder from its last checkpoint "
                                                       "(a run stopped before its first checkpoint starts again)")
    p.add_argument("--print-config", action="store_true", help="print the resolved settings and exit")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="a model's metrics on a validation set (top-1, top-5, loss for classify)",
                       epilog=_examples("saga eval --model saga_llie_tiny --data lowlight-heldout --device cpu "
                                        "--workers 0"))
    p.add_argument("--model", required=True,
                   help="a run folder of saga train (its config.yaml and best weights), a .safetensors file or a "
                        "model name with shipped weights")
    p.add_argument("overrides", nargs="*", help=overrides_help)
    p.add_argument("--json", help="also write the metrics to this JSON file")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("enhance", help="brighten low-light photos (files, folders, globs) with a low-light model",
                       epilog="Exit code 0: all written; 1: some photos failed (named on stderr); 2: bad settings, "
                              "nothing written. Outputs keep the input's format, bit depth, alpha, EXIF and ICC; "
                              "files in --out that this run did not make are never replaced (--overwrite replaces "
                              "earlier outputs of saga enhance only).")
    p.add_argument("inputs", nargs="+", help="image files, folders (sub-folders are mirrored) or glob patterns")
    p.add_argument("-o", "--out", required=True, help="output folder (or a file name, for one input file)")
    p.add_argument("--model", help="a low-light model name with shipped weights, a .safetensors checkpoint or a run "
                                   "folder of saga train (default: the shipped saga_llie_tiny weights)")
    p.add_argument("--strength", type=float, default=1.0, help="0 = the input, 1 = the model's output (default), "
                                                               "up to 2")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    p.add_argument("--dtype", default="fp32", choices=["fp32", "bf16", "fp16"], help="default fp32")
    p.add_argument("--max-memory", type=_megabytes, help="memory one pass may use, e.g. 4G (default: 80%% of the "
                                                          "GPU's free memory, or 70%% of available RAM)")
    p.add_argument("--tile", type=int, help="force tiles of this side (pixels, >= 64) instead of whole images")
    p.add_argument("--band", type=int, help="force the exact banded pass, bands of this many rows (>= 8; nets with a "
                                            "SAGA or linear mixer, which use it by themselves on the CPU and where "
                                            "one pass does not fit); 0: never (one pass, or tiles)")
    p.add_argument("--max-pixels", type=_whole(1), default=DEFAULT_MAX_PIXELS,
                   help="refuse images with more pixels (decompression bombs; default 200 million)")
    p.add_argument("--overwrite", action="store_true", help="replace outputs of an earlier saga enhance (never an "
                                                            "input, never a file it did not make)")
    p.add_argument("--compare", action="store_true", help="also write <name>.compare.jpg, before | after, labelled")
    p.set_defaults(func=cmd_enhance)

    p = sub.add_parser("rank", help="per-layer rank of attention states and maps (the paper's rank curves)",
                       epilog="Runs and fresh models are compared on their own images and sizes; the table says so "
                              "when the sources differ in either.\n"
                              + _examples("saga rank --model linear_pvt_tiny,saga_pvt_tiny --res 64 --images 2 "
                                          "--device cpu --out runs/rank-example"))
    p.add_argument("--model", dest="sources", type=_specs, required=True,
                   help="comma-separated run folders of saga train (trained weights, validation images) or model "
                        "specs (fresh weights), e.g. linear_pvt_tiny,saga_pvt_tiny")
    p.add_argument("--images", type=_whole(1), default=8, help="how many images (default 8)")
    p.add_argument("--image-dir", help="a folder of class folders to take the images from (default: the run's "
                                       "validation set; for model names, scikit-image's photographs)")
    p.add_argument("--res", type=_whole(32), default=224, help="image size for model names (default 224; runs use "
                                                               "their own)")
    p.add_argument("--map-tokens", type=_whole(1), default=64, help="query tokens in each attention map (default 64)")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    p.add_argument("--out", help="output folder, new or empty (default runs/rank-<time>)")
    p.set_defaults(func=cmd_rank)

    p = sub.add_parser("export", help="write a model as ONNX (dynamic batch, height and width), checked with "
                                      "onnxruntime", epilog=_examples("saga export saga_llie_tiny --onnx "
                                                                      "/tmp/saga_llie_tiny.onnx --overwrite"))
    p.add_argument("model", nargs="?", help="a model name (its shipped weights, else fresh ones), a .safetensors "
                                            "file or a run folder of saga train")
    p.add_argument("--model", dest="model_option", help="the same as MODEL")
    p.add_argument("--onnx", required=True, help="the file to write (.onnx); written only once checked")
    p.add_argument("--size", type=_size, help="the example input traced, HxW (default: the model's size; 100x150 "
                                              "for low-light nets); every size the net takes still works")
    p.add_argument("--no-check", action="store_true", help="skip the onnxruntime check")
    p.add_argument("--overwrite", action="store_true", help="replace an existing file")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("cache", help="where the generated data sets are kept ($SAGA_CACHE) and how large it is")
    p.add_argument("--clear", action="store_true", help="delete the cache (it is made again when needed)")
    p.set_defaults(func=cmd_cache)
    return parser


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, Parser]:
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices


def _flag(option: str, value: str, sub: Parser) -> list[str]:
    if value.lower() in TRUE:
        return [option]
    if value.lower() in FALSE:
        return []
    sub.error(f"{option[2:]} is a flag: {option}, or {option[2:]}=true or false; got {value!r}")


def spell_out(argv: list[str], sub: Parser, settings: bool) -> list[str]:
    """One spelling for argparse: name=value of an option becomes --name value. In commands that take training
    settings (`settings`), --name value of a setting becomes name=value (a setting without a value is true), and
    the settings go after the options, so that argparse reads them as one list wherever they were given."""
    options, out, values, i = sub.long_options(), [], [], 0
    while i < len(argv):
        token = argv[i]
        i += 1
        key, eq, value = token.partition("=")
        if token == "--":
            out += argv[i - 1:]
            break
        if eq and not token.startswith("-") and "--" + key.replace("_", "-") in options:
            option = "--" + key.replace("_", "-")
            out += _flag(option, value, sub) if options[option].nargs == 0 else [option, value]
        elif settings and token.startswith("--") and key not in options and key not in ("--help", "--version"):
            if not eq:
                value = "true"
                if i < len(argv) and not argv[i].startswith("-"):
                    value, i = argv[i], i + 1
            values.append(f"{key[2:].replace('-', '_')}={value}")
        elif settings and not token.startswith("-"):
            values.append(token)
        else:
            out.append(token)
            if token in options and options[token].nargs is None and i < len(argv):
                out.append(argv[i])
                i += 1
    return out + values


def _unknown(sub: Parser, extras: list[str]) -> None:
    """The usage error for arguments a subcommand does not take, with the nearest option it does take."""
    options = sorted(sub.long_options())
    token = extras[0]
    name = token.split("=", 1)[0]
    wanted = name if name.startswith("-") else "--" + name.replace("_", "-")
    close = difflib.get_close_matches(wanted, options, n=2, cutoff=0.6)
    hint = f"did you mean {' or '.join(close)}?" if close else f"{sub.prog} takes {', '.join(options)}"
    sub.error(f"unknown {'option' if name.startswith('-') or '=' in token else 'argument'} {token!r}; {hint}")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = build_parser()
    subs = _subparsers(parser)
    if argv and argv[0] in subs:
        argv = [argv[0], *spell_out(argv[1:], subs[argv[0]], argv[0] in SETTINGS_COMMANDS)]
    args, extras = parser.parse_known_args(argv)
    if extras:
        _unknown(subs[args.command_name], extras)
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse(argv)
    args.command = shlex.join(["saga", *argv])
    try:
        return args.func(args)
    except KeyboardInterrupt as stop:           # train.engine.Interrupted carries the command that resumes
        print(f"saga {args.command_name}: {getattr(stop, 'message', 'interrupted')}", file=sys.stderr)
        return 130
    except (ValueError, OSError) as err:
        if os.environ.get("SAGA_DEBUG"):
            raise
        text = str(err).splitlines()[0] if str(err) else type(err).__name__
        print(f"saga {args.command_name}: error: {text}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
