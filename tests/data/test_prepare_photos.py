"""The training-photo preparation: photographs read from .deb files, shrunk, and each one's license recorded."""
import importlib.util
import io
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

from saga_attention.data.lowlight import BUILTIN_HELD_OUT, BUILTIN_VAL

SCRIPT = Path(__file__).parents[2] / "tools" / "prepare_photos.py"
spec = importlib.util.spec_from_file_location("prepare_photos", SCRIPT)
prepare_photos = importlib.util.module_from_spec(spec)
spec.loader.exec_module(prepare_photos)

COPYRIGHT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/

Files: *
Copyright: 2020, Packager
License: Expat

Files: 20.04/Kleiber_by_Lukas_Baubkus.jpg
Copyright: 2021, Lukas Baubkus
License: CC-BY-SA-3.0
"""


def _deb(path: Path, files: dict[str, bytes]) -> None:
    """A minimal .deb: an ar archive whose data.tar.gz holds `files`."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz") as tar:
        for name, blob in files.items():
            info = tarfile.TarInfo(f"./{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    members = [("debian-binary", b"2.0\n"), ("data.tar.gz", data.getvalue())]
    blob = b"!<arch>\n" + b"".join(
        f"{name + '/':<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(body):<10}`\n".encode() + body + b"\n" * (len(body) % 2)
        for name, body in members)
    path.write_bytes(blob)


def _jpeg(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((height, width, 3), 90, np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()


def test_photographs_are_read_from_the_deb_shrunk_and_their_license_recorded(tmp_path):
    deb = tmp_path / "lomiri-wallpapers-20.04_20.04.0-2_all.deb"
    _deb(deb, {"usr/share/backgrounds/Kleiber_by_Lukas_Baubkus.jpg": _jpeg(300, 200),
               "usr/share/backgrounds/Painting.jpg": _jpeg(50, 50),
               "usr/share/doc/lomiri-wallpapers-20.04/copyright": COPYRIGHT.encode()})
    out = tmp_path / "photos"
    out.mkdir()
    rows = prepare_photos.prepare([deb], out, max_side=120)
    assert [r["file"] for r in rows] == ["lomiri-wallpapers-20.04--Kleiber_by_Lukas_Baubkus.png"]
    assert rows[0]["license"] == "CC-BY-SA-3.0" and rows[0]["copyright"] == "2021, Lukas Baubkus"
    assert Image.open(out / rows[0]["file"]).size == (120, 80)
    assert rows[0]["version"] == "20.04.0-2"


def test_the_general_stanza_applies_where_no_file_stanza_does():
    assert prepare_photos.copyright_of(COPYRIGHT, "usr/share/backgrounds/Other.jpg") == ("2020, Packager", "Expat")


def test_no_listed_photograph_is_in_the_held_out_or_validation_gallery():
    names = {Path(p).stem.lower() for files in prepare_photos.PHOTOS.values() for p in files}
    assert not names & {n.lower() for n in BUILTIN_HELD_OUT + BUILTIN_VAL}


def test_missing_debs_or_a_full_folder_is_one_line_exit_2(tmp_path):
    (tmp_path / "debs").mkdir()
    run = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path / "o"), "--debs", str(tmp_path / "debs")],
                         capture_output=True, text=True)
    assert run.returncode == 2 and "lacks the .deb of mate-backgrounds" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and not (tmp_path / "o").exists()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.txt").write_text("x")
    run = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path / "full")], capture_output=True, text=True)
    assert run.returncode == 2 and "is not empty" in run.stderr
