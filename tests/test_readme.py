"""The README's Python examples run as written, and its first lines give the two commands."""
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the examples write a checkpoint into the working directory
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) >= 3
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    assert tuple(namespace["o"].shape) == (2, 4096, 4, 32)
    assert [tuple(m.shape)[1:] for m in namespace["maps"]] == [(64, 128, 128), (128, 64, 64), (320, 32, 32),
                                                               (512, 16, 16)]


def test_readme_starts_with_the_two_commands():
    first_block = README.read_text().split("```bash\n", 1)[1].split("```", 1)[0].splitlines()
    assert "saga demo" in first_block[0] and "python -m pytest" in first_block[1]
    assert "python3 -m pytest" in (README.parent / ".ci" / "run").read_text()
