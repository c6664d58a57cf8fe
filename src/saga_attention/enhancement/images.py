"""Photos in and out as people have them: JPEG, PNG (8 and 16 bit), TIFF (8 and 16 bit), WebP, BMP;
grayscale, palette and CMYK converted to RGB for the model and back; alpha split off and re-attached;
EXIF orientation applied; EXIF (orientation reset) and ICC profile written back; the pixel count checked
against a limit before any pixel is decoded (decompression bombs).

Pillow reads 16-bit RGB PNGs as 8-bit; the low bytes are read by a second decode, and 16-bit RGB PNGs
are written by `write_png16` (zlib, no filters). 16-bit TIFFs go through tifffile (a dependency of
scikit-image), which keeps the ICC profile but not EXIF.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

DEFAULT_MAX_PIXELS = 200_000_000       # 200 MP: any camera's photo; a decompression bomb is far above
ORIENTATION = 0x0112
JPEG_QUALITY = 95
WRITABLE = {"JPEG", "PNG", "TIFF", "WEBP", "BMP"}
SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp"}


@dataclass
class Photo:
    """A decoded photo: RGB in [0, 1] for the model, and what is needed to write it back the same way."""

    rgb: np.ndarray               # (H, W, 3) float32 in [0, 1], upright (EXIF orientation applied)
    alpha: np.ndarray | None      # (H, W) uint8 or uint16, re-attached on writing
    mode: str                     # what is written: "RGB", "L" (grayscale) or "CMYK"
    bits: int                     # 8 or 16 per channel
    format: str                   # Pillow's name: JPEG, PNG, TIFF, WEBP, BMP
    exif: bytes | None
    icc: bytes | None

    @property
    def size(self) -> tuple[int, int]:
        return self.rgb.shape[1], self.rgb.shape[0]


def _rgb_from_array(pixels: np.ndarray, peak: float) -> np.ndarray:
    pixels = pixels.astype(np.float32) / peak
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    return np.ascontiguousarray(np.broadcast_to(pixels[..., :3], (*pixels.shape[:2], 3)) if pixels.shape[-1] == 1
                                else pixels[..., :3])


def _png16_low_bytes(path: Path) -> np.ndarray:
    """The low bytes of a 16-bit PNG's samples: Pillow's decoder, told that the samples are little-endian."""
    with Image.open(path) as image:
        image.tile = [t._replace(args=t.args.replace(";16B", ";16L") if isinstance(t.args, str)
                                 else (t.args[0].replace(";16B", ";16L"), *t.args[1:])) for t in image.tile]
        return np.asarray(image)


def _rawmode(image: Image.Image) -> str:
    args = image.tile[0].args if image.tile else ""
    return args if isinstance(args, str) else str(args[0]) if args else ""


def read_photo(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> Photo:
    """Decode `path`; ValueError for an unreadable file, an unsupported mode or more than `max_pixels`."""
    path = Path(path)
    try:
        with Image.open(path) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise ValueError(f"{width} x {height} = {width * height / 1e6:.0f} MP is above the limit of "
                                 f"{max_pixels / 1e6:.0f} MP (a decompression bomb?); raise it with --max-pixels")
            raw = _rawmode(image)                  # the tile list is gone once loaded
            image.load()
            return _decode(path, image, raw)
    except Image.DecompressionBombError as err:
        raise ValueError(f"{err}; raise the limit with --max-pixels") from None
    except (OSError, SyntaxError, struct.error, zlib.error) as err:
        raise ValueError(f"not a readable image ({type(err).__name__}: {err})") from None


def _decode(path: Path, image: Image.Image, raw: str) -> Photo:
    fmt, mode = image.format or "PNG", image.mode
    icc = image.info.get("icc_profile")
    exif = image.getexif()
    orientation = exif.get(ORIENTATION, 1)
    exif_bytes = None
    if exif:
        exif[ORIENTATION] = 1
        exif_bytes = exif.tobytes()
    alpha, bits = None, 8
    if mode == "F":
        raise ValueError("floating-point images (mode F) have no fixed range; convert to 8 or 16 bit")
    if mode.startswith("I"):                                 # 16-bit (or 32-bit integer) grayscale
        pixels = np.asarray(image).astype(np.float64)
        rgb, bits, out_mode = _rgb_from_array(np.clip(pixels, 0, 65535), 65535), 16, "L"
    elif ";16" in raw and fmt == "PNG":                     # 16-bit RGB(A) PNG: high bytes, then low bytes
        high = np.asarray(image).astype(np.uint16)
        pixels = (high << 8) | _png16_low_bytes(path).astype(np.uint16)
        rgb, bits, out_mode = _rgb_from_array(pixels, 65535), 16, "RGB"
        alpha = pixels[..., 3] if pixels.shape[-1] == 4 else None
    elif ";16" in raw and fmt == "TIFF":
        import tifffile

        pixels = tifffile.imread(path, key=0)
        if pixels.ndim == 3 and pixels.shape[0] in (3, 4) and pixels.shape[-1] not in (3, 4):
            pixels = np.moveaxis(pixels, 0, -1)
        rgb, bits = _rgb_from_array(pixels, 65535), 16
        out_mode = "L" if pixels.ndim == 2 else "RGB"
        alpha = pixels[..., 3].astype(np.uint16) if pixels.ndim == 3 and pixels.shape[-1] == 4 else None
    else:
        if mode == "P":
            image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        elif mode == "1":
            image = image.convert("L")
        elif mode == "PA":
            image = image.convert("RGBA")
        if image.mode in ("RGBA", "LA"):
            alpha = np.asarray(image.getchannel("A"))
        out_mode = {"L": "L", "LA": "L", "CMYK": "CMYK"}.get(image.mode, "RGB")
        rgb = _rgb_from_array(np.asarray(image.convert("RGB")), 255)
    rgb, alpha = _orient(rgb, orientation), None if alpha is None else _orient(alpha, orientation)
    return Photo(rgb, alpha, out_mode, bits, fmt, exif_bytes, icc)


# EXIF orientation -> the numpy view that shows the photo upright (as ImageOps.exif_transpose does).
UPRIGHT = {2: lambda p: p[:, ::-1], 3: lambda p: p[::-1, ::-1], 4: lambda p: p[::-1],
           5: lambda p: np.swapaxes(p, 0, 1), 6: lambda p: np.rot90(p, -1),
           7: lambda p: np.swapaxes(p, 0, 1)[::-1, ::-1], 8: lambda p: np.rot90(p, 1)}


def _orient(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """(H, W[, C]) pixels turned upright by an EXIF orientation (1-8)."""
    return np.ascontiguousarray(UPRIGHT.get(orientation, lambda p: p)(pixels))


def _quantize(values: np.ndarray, bits: int) -> np.ndarray:
    peak = 65535 if bits == 16 else 255
    return np.round(np.clip(values, 0, 1) * peak).astype(np.uint16 if bits == 16 else np.uint8)


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def write_photo(photo: Photo, rgb: np.ndarray, path: str | Path) -> None:
    """Write enhanced (H, W, 3) RGB in [0, 1] to `path` as `photo` was stored: format, bit depth, mode, alpha,
    EXIF and ICC. The file appears whole or not at all (a temporary name, then a rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial")
    try:
        _write(photo, rgb, tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def _write(photo: Photo, rgb: np.ndarray, path: Path) -> None:
    pixels = _quantize(_luma(rgb) if photo.mode == "L" else rgb, photo.bits)           # (H, W) or (H, W, 3)
    if photo.alpha is not None:                  # read at the photo's own bit depth
        pixels = np.dstack([pixels, photo.alpha])
    fmt = photo.format if photo.format in WRITABLE else "PNG"
    if photo.bits == 16 and fmt == "TIFF":
        import tifffile

        tifffile.imwrite(path, pixels, photometric="minisblack" if pixels.ndim == 2 else "rgb",
                         extrasamples=["unassalpha"] if photo.alpha is not None else None,
                         iccprofile=photo.icc, compression="zlib")
        return
    if photo.bits == 16 and (pixels.ndim == 3 or fmt != "PNG"):
        write_png16(path, pixels if pixels.ndim == 3 else pixels[..., None], photo.icc, photo.exif)
        return
    if photo.bits == 16:
        image = Image.fromarray(pixels.astype(np.uint16))                # mode I;16
    else:
        mode = {2: "L", 3: "RGB"}[pixels.ndim] if pixels.ndim == 2 or pixels.shape[-1] == 3 else \
            ("LA" if photo.mode == "L" else "RGBA")
        image = Image.fromarray(pixels, mode)
        if photo.mode == "CMYK":
            image = image.convert("CMYK")
    options = {k: v for k, v in (("icc_profile", photo.icc), ("exif", photo.exif)) if v}
    if fmt in ("JPEG", "WEBP"):
        options["quality"] = JPEG_QUALITY
    if fmt == "JPEG" and image.mode in ("RGBA", "LA"):
        image = image.convert("RGB" if image.mode == "RGBA" else "L")
    if fmt == "BMP":
        options.pop("exif", None)
    image.save(path, fmt, **options)


def write_png16(path: str | Path, pixels: np.ndarray, icc: bytes | None = None, exif: bytes | None = None) -> None:
    """A 16-bit PNG of (H, W, C) uint16 pixels, C = 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA)."""
    h, w, c = pixels.shape
    color_type = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    rows = pixels.astype(">u2").reshape(h, w * c).view(np.uint8)
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rows], axis=1)          # filter type 0 on every row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    parts = [b"\x89PNG\r\n\x1a\n", chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0))]
    if icc:
        parts.append(chunk(b"iCCP", b"ICC profile\x00\x00" + zlib.compress(icc)))
    if exif:
        parts.append(chunk(b"eXIf", exif[6:] if exif.startswith(b"Exif\x00\x00") else exif))
    parts += [chunk(b"IDAT", zlib.compress(raw.tobytes(), 6)), chunk(b"IEND", b"")]
    Path(path).write_bytes(b"".join(parts))


def side_by_side(before: np.ndarray, after: np.ndarray, max_side: int = 2048,
                 labels: tuple[str, str] = ("before", "after")) -> Image.Image:
    """Before | after, 8-bit RGB, shrunk so that the pair is at most `max_side` wide, under a strip that names
    each half."""
    pair = np.concatenate([before, after], axis=1)
    image = Image.fromarray(_quantize(pair, 8))
    if max(image.size) > max_side:
        image = ImageOps.contain(image, (max_side, max_side), Image.Resampling.LANCZOS)
    strip = max(16, image.height // 16)
    labelled = Image.new("RGB", (image.width, image.height + strip), "black")
    labelled.paste(image, (0, strip))
    draw = ImageDraw.Draw(labelled)
    font = ImageFont.load_default(size=int(strip * 0.7))
    for half, label in enumerate(labels):
        draw.text((half * image.width // 2 + strip // 3, strip // 2), label, fill="white", font=font, anchor="lm")
    return labelled
