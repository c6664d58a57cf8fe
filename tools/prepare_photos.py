"""Build the folder of training photographs for the enhancement nets from Debian's desktop-background packages:
the photographs among their wallpapers (drawings and abstract art left out), each shrunk to at most --max-side
pixels a side and saved as PNG, with SOURCES.md and sources.json naming each file's package, original path,
copyright holder and license (read from the package's copyright file).

    python3 tools/prepare_photos.py --out data/photos              # apt-get download, about 200 MB, 1 minute
    python3 tools/prepare_photos.py --out data/photos --debs DIR   # .deb files already downloaded

The folder is what `saga train task=enhance data=data/photos` reads (15% of the photos, by file-name hash, are
its validation gallery). None of these photographs is in the held-out gallery (scikit-image's chelsea, rocket,
astronaut and coffee). The folder stays out of git.
"""
from __future__ import annotations

import argparse
import fnmatch
import io
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from urllib.parse import unquote

from PIL import Image

# The photographs of each package, by file name (a drawing or an abstract image is not a photograph).
PHOTOS = {
    "mate-backgrounds": ["Aqua.jpg", "Blinds.jpg", "Dune.jpg", "FreshFlower.jpg", "Garden.jpg", "GreenMeadow.jpg",
                         "LadyBird.jpg", "RainDrops.jpg", "Storm.jpg", "TwoWings.jpg", "Wood.jpg", "YellowFlower.jpg"],
    "plasma-workspace-wallpapers": [f"wallpapers/{name}/contents/images/*" for name in (
        "BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow", "FallenLeaf", "Grey", "Kite",
        "OneStandsOut", "Path", "Volna", "summer_1am")],
    "lomiri-wallpapers-16.04": [f"{name}.jpg" for name in (
        "Bridge_by_Sander_Klootwijk", "Dragonfly_by_Bolly", "Picture_0B_by_freespace", "Picture_1A_by_freespace",
        "Wine_by_Jakkub_Mede", "aitzgorri_by_Aitzol_Berasategi", "free_by_Peter_Nerlich",
        "friends_by_Aitzol_Berasategi", "greentock_by_Peter_Nerlich", "life_by_Aitzol_Berasategi",
        "picosdeeuropa_by_Aitzol_Berasategi", "seeding_by_Clements_Engelhardt", "sunset_by_Aitzol_Berasategi")],
    "lomiri-wallpapers-20.04": ["Kleiber_by_Lukas_Baubkus.jpg"],
}
SUFFIXES = (".jpg", ".jpeg", ".png")


def _fail(message: str) -> None:
    print(f"prepare_photos.py: error: {message}", file=sys.stderr)
    sys.exit(2)


def deb_members(deb: Path) -> dict[str, bytes]:
    """The files of a .deb (an ar archive holding data.tar.*), by path without the leading './'."""
    blob = deb.read_bytes()
    if not blob.startswith(b"!<arch>\n"):
        raise ValueError(f"{deb} is not a .deb file (no ar header)")
    offset, files = 8, {}
    while offset + 60 <= len(blob):
        name, size = blob[offset:offset + 16].decode().strip().rstrip("/"), int(blob[offset + 48:offset + 58])
        body = blob[offset + 60:offset + 60 + size]
        if name.startswith("data.tar"):
            with tarfile.open(fileobj=io.BytesIO(body)) as tar:
                for member in tar.getmembers():
                    if member.isfile():
                        files[member.name.removeprefix("./")] = tar.extractfile(member).read()
        offset += 60 + size + size % 2
    return files


def copyright_of(text: str, path: str) -> tuple[str, str]:
    """(copyright holder, license) of `path` from a machine-readable Debian copyright file: the last stanza
    whose Files pattern matches the path or its file name (the source tree's folders differ from the installed
    ones), as the format says."""
    found = ("unknown", "unknown")
    for stanza in text.split("\n\n"):
        fields, key = {}, None
        for line in stanza.splitlines():
            if line[:1] in (" ", "\t") and key:
                fields[key] += " " + line.strip()
            elif ":" in line:
                key, value = line.split(":", 1)
                fields[key.strip()] = value.strip()
        patterns = fields.get("Files", "").split()
        if any(fnmatch.fnmatch(path, f"*{p}") or ("/" in p and not set("*?[") & set(Path(p).name)
                                                  and Path(p).name == Path(path).name) for p in patterns):
            found = (fields.get("Copyright", "unknown"), fields.get("License", "unknown").split(" ", 1)[0])
    return found


def photos_of(package: str, files: dict[str, bytes]) -> list[tuple[str, bytes]]:
    """(path, bytes) of the package's listed photographs; a plasma wallpaper gives its largest image."""
    chosen = []
    for pattern in PHOTOS[package]:
        hits = sorted((p for p in files if p.lower().endswith(SUFFIXES) and fnmatch.fnmatch(p, f"*{pattern}")),
                      key=lambda p: len(files[p]))
        if not hits:
            raise ValueError(f"{package} has no file matching {pattern!r}: another version of the package?")
        chosen.append((hits[-1], files[hits[-1]]))
    return chosen


def prepare(debs: list[Path], out: Path, max_side: int) -> list[dict]:
    """Write the photographs of `debs` into `out` (PNG, at most max_side a side); -> the sources rows."""
    rows = []
    for deb in debs:
        package = deb.name.split("_")[0]
        files = deb_members(deb)
        doc = next((files[p] for p in files if p.endswith(f"doc/{package}/copyright")), b"").decode(errors="replace")
        for path, blob in photos_of(package, files):
            image = Image.open(io.BytesIO(blob)).convert("RGB")
            image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
            name = f"{package}--{Path(path).parent.parent.parent.name if 'contents' in path else Path(path).stem}.png"
            image.save(out / name)
            holder, license_ = copyright_of(doc, path)
            rows.append({"file": name, "package": package, "version": unquote(deb.name.split("_")[1]), "path": path,
                         "size": list(image.size), "copyright": holder, "license": license_})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder to write the photographs into (created)")
    parser.add_argument("--debs", help="a folder with the .deb files (default: apt-get download them)")
    parser.add_argument("--max-side", type=int, default=768, help="longest side of a prepared photograph")
    args = parser.parse_args()
    if args.max_side < 64:
        _fail(f"--max-side is at least 64; got {args.max_side}")
    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        _fail(f"--out {out} is not empty; give a new folder")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.debs) if args.debs else Path(tmp)
        if not args.debs:
            subprocess.run(["apt-get", "download", *PHOTOS], cwd=tmp, check=True)
        debs = {p.name.split("_")[0]: p for p in sorted(folder.glob("*.deb"))}
        missing = [name for name in PHOTOS if name not in debs]
        if missing:
            _fail(f"{folder} lacks the .deb of {', '.join(missing)}; "
                  f"get them with: apt-get download {' '.join(PHOTOS)}")
        try:
            out.mkdir(parents=True, exist_ok=True)
            rows = prepare([debs[name] for name in PHOTOS], out, args.max_side)
        except (ValueError, OSError, tarfile.TarError) as err:
            _fail(str(err))
    (out / "sources.json").write_text(json.dumps(rows, indent=1) + "\n")
    lines = ["| file | package | original path | copyright | license |", "|---|---|---|---|---|"]
    lines += [f"| {r['file']} | {r['package']} {r['version']} | {r['path']} | {r['copyright']} | {r['license']} |"
              for r in rows]
    (out / "SOURCES.md").write_text("\n".join(lines) + "\n")
    print(f"{len(rows)} photographs in {out} (sources: {out / 'SOURCES.md'})")


if __name__ == "__main__":
    main()
