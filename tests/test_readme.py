"""The examples of the README and docs/ run as written: each Python block on its own, every `saga` line parses
with its model specs valid, and the CPU benchmark lines and the report built from them run for real."""
import re
import shlex
from pathlib import Path

import pytest

from saga_attention.bench.runner import parse_bench_entry
from saga_attention.cli import build_parser, main

README = Path(__file__).resolve().parents[1] / "README.md"
TEXT = README.read_text()
DOCS = [README, *sorted((README.parent / "docs").glob("*.md"))]
ALL_TEXT = "\n".join(path.read_text() for path in DOCS)
PYTHON_BLOCKS = re.findall(r"```python\n(.*?)```", ALL_TEXT, re.S)
SAGA_LINES = [line.split("#")[0].strip() for block in re.findall(r"```bash\n(.*?)```", ALL_TEXT, re.S)
              for line in block.replace("\\\n", " ").splitlines() if line.strip().startswith("saga ")]


@pytest.mark.parametrize("index", range(len(PYTHON_BLOCKS)))
def test_each_python_example_runs_on_its_own(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the examples write a checkpoint into the working directory
    namespace: dict = {}
    exec(compile(PYTHON_BLOCKS[index], f"README.md or docs/, python block {index + 1}", "exec"), namespace)
    if "maps" in namespace:
        assert [tuple(m.shape)[1:] for m in namespace["maps"]] == [(64, 128, 128), (128, 64, 64), (320, 32, 32),
                                                                   (512, 16, 16)]
    if "o" in namespace:
        assert tuple(namespace["o"].shape) == (2, 4096, 4, 32)
    if "o_parts" in namespace:
        assert (namespace["o_parts"] - namespace["o"]).abs().max() < 1e-4


def test_every_saga_command_parses_with_valid_specs():
    assert len(PYTHON_BLOCKS) >= 3 and len(SAGA_LINES) >= 15
    for line in SAGA_LINES:
        args = build_parser().parse_args(shlex.split(line)[1:])
        for entry in getattr(args, "models", None) or []:
            parse_bench_entry(entry)


def test_the_cpu_benchmarks_and_the_report_built_from_them_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cpu = [line for line in SAGA_LINES if line.startswith(("saga bench", "saga report")) and "cuda" not in line]
    assert any(line.startswith("saga report") for line in cpu)
    for line in cpu:
        assert main(shlex.split(line)[1:]) == 0, line
    assert (tmp_path / "both" / "report.md").is_file() and (tmp_path / "both" / "report.png").is_file()


def test_readme_is_short_and_shows_the_model_zoo_early():
    lines = TEXT.splitlines()
    assert len(lines) <= 300
    assert any(line.startswith("## Model zoo") for line in lines[:120])
    assert not re.search(r"issue ?[0-9]+", ALL_TEXT, re.I)


def test_readme_starts_with_the_two_commands():
    first_block = TEXT.split("```bash\n", 1)[1].split("```", 1)[0].splitlines()
    assert "saga demo" in first_block[0] and "python -m pytest" in first_block[1]
    assert "python3 -m pytest" in (README.parent / ".ci" / "run").read_text()
