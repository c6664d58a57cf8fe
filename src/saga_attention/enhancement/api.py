"""The enhancer: a low-light model (the shipped weights by default, or any registered name, checkpoint or run
folder) applied to a whole photo when it fits in memory, or in blended tiles when it does not.

    import saga_attention as sa
    bright = sa.enhance(Image.open("dark.jpg"))            # PIL in, PIL out; NumPy and tensors too
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

from ..measure import DTYPES, MIB, resolve_device
from ..models import create_model, load_checkpoint, model_config, parse_model_spec, read_checkpoint, shipped_models
from ..models.llie import BANDED_MIXERS
from ..models.llie_bands import resident_channels
from ..train.engine import load_run
from .tiles import CALIBRATION_SIDES, MemoryModel, Plan, available_bytes, calibrate, plan_bands, plan_tile, run_plan

DEFAULT_MODEL = "saga_llie_tiny"
OVERLAP = 32
IMAGE_COPIES = 4   # float32 RGB copies of the image the enhancer keeps beside the net's pass (in, out, blend)


def load_enhancer(source: str | None = None) -> nn.Module:
    """A low-light model from: None (the shipped weights of DEFAULT_MODEL), a registered name or spec (its
    shipped weights), a .safetensors checkpoint (its metadata names the model) or a run folder of saga train."""
    source = source or DEFAULT_MODEL
    path = Path(source)
    if path.is_dir():
        model = load_run(path)[0]
    elif path.suffix == ".safetensors" or path.is_file():
        _, metadata = read_checkpoint(path)
        if "model" not in metadata:
            raise ValueError(f"{source!r} does not say which model it holds (no 'model' metadata); give a run folder")
        model = load_checkpoint(create_model(metadata["model"]), path)
    else:
        spec = parse_model_spec(source)
        if spec.name not in shipped_models():
            raise ValueError(f"--model {source}: no weights are shipped for it; give a checkpoint or a run folder "
                             f"(shipped: {', '.join(shipped_models()) or 'none'})")
        model = create_model(spec, pretrained=True)
    if model_config(model.model_name).task != "enhance":
        raise ValueError(f"{source!r} is a {model_config(model.model_name).task} model, not a low-light enhancer")
    return model.eval()


class Enhancer:
    """A model on a device with a memory budget: `enhancer(rgb)` for (H, W, 3) float32 arrays in [0, 1].

    strength: 0 returns the input, 1 the model's output, between mixes them (above 1 extrapolates).
    max_memory: bytes one pass may use (default: what the device has free); tile: force tiles of this side;
    band: force the exact banded pass with bands of so many rows (nets with a SAGA or linear mixer); 0: never.
    """

    def __init__(self, model: str | nn.Module | None = None, device: str = "auto", dtype: str = "fp32",
                 max_memory: float | None = None, tile: int | None = None, strength: float = 1.0,
                 band: int | None = None) -> None:
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}; got {dtype!r}")
        if tile is not None and tile < 64:
            raise ValueError(f"tile must be at least 64 pixels; got {tile}")
        if band is not None and (band < 0 or 0 < band < 8):
            raise ValueError(f"band must be 0 (no bands: one pass, or tiles) or at least 8 rows; got {band}")
        if tile and band:
            raise ValueError("give tile or band, not both")
        if max_memory is not None and max_memory <= 0:
            raise ValueError(f"max_memory must be positive; got {max_memory}")
        if not 0 <= strength <= 2:
            raise ValueError(f"strength must be between 0 and 2; got {strength}")
        self.device, self.dtype = resolve_device(device), DTYPES[dtype]
        module = model if isinstance(model, nn.Module) else load_enhancer(model)
        self.model = module.eval().to(self.device, self.dtype)
        self.banded = getattr(self.model, "mixer", None) in BANDED_MIXERS and hasattr(self.model, "band_rows")
        if band and not self.banded:
            raise ValueError(f"--band needs a net with a {' or '.join(BANDED_MIXERS)} mixer; "
                             f"{self.model.model_name} has none (use --tile)")
        self.max_memory, self.tile, self.band, self.strength = max_memory, tile, band, strength
        self._memory: MemoryModel | None = None

    def memory(self) -> MemoryModel:
        if self._memory is None:
            self._memory = calibrate(self._forward, self.device, self.dtype)
        return self._memory

    @torch.inference_mode()
    def _forward(self, x: Tensor) -> Tensor:
        return self.model(x)

    def plan(self, h: int, w: int) -> Plan:
        """How an h x w image runs: whole, in bands (exact) or in tiles."""
        if self.tile:
            return Plan("tiles", self.tile)
        if self.band:
            return Plan("bands", self.band)
        banded = self.banded and self.band is None
        small = h * w <= CALIBRATION_SIDES[-1] ** 2      # smaller than a calibration pass: measuring costs more
        if self.max_memory is None and small:
            return Plan("whole")
        budget = self.max_memory if self.max_memory is not None else available_bytes(self.device)
        if not banded:
            side = plan_tile(self.memory(), h, w, budget, None)
            return Plan("whole") if side is None else Plan("tiles", side)
        resident = resident_channels(self.model) * self.dtype.itemsize + IMAGE_COPIES * 3 * 4
        return plan_bands(self.memory(), h, w, budget, resident, self.device)

    def __call__(self, rgb: np.ndarray, progress: bool = False) -> np.ndarray:
        """(H, W, 3) float32 in [0, 1] -> enhanced (H, W, 3) float32 in [0, 1]."""
        if rgb.ndim != 3 or rgb.shape[-1] != 3:
            raise ValueError(f"expected an (H, W, 3) RGB array; got shape {rgb.shape}")
        x = torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32)).permute(2, 0, 1)[None]
        x = x.to(self.device, self.dtype)
        out = run_plan(self.model, x, self.plan(*rgb.shape[:2]), OVERLAP, progress)
        out = x.float() + self.strength * (out - x.float())
        return out.clamp(0, 1)[0].permute(1, 2, 0).cpu().numpy()

    def describe(self) -> str:
        budget = self.max_memory if self.max_memory is not None else available_bytes(self.device)
        return (f"{self.model.model_name} on {self.device} ({str(self.dtype).removeprefix('torch.')}), memory limit "
                f"{budget / MIB:.0f} MiB" + (f", tiles of {self.tile}" if self.tile else "")
                + (f", bands of {self.band} rows" if self.band else ""))


def _as_rgb(image: Any) -> tuple[np.ndarray, Any]:
    """(H, W, 3) float32 in [0, 1] from a PIL image, an array or a tensor, and how to give the result back."""
    if isinstance(image, Image.Image):
        mode = image.mode
        rgb = np.asarray(image.convert("RGB"), dtype=np.float32) / 255
        return rgb, lambda out: Image.fromarray(np.round(out * 255).astype(np.uint8)).convert(
            mode if mode in ("L", "RGB") else "RGB")
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[-1] != 3:
            raise ValueError(f"a NumPy image must be (H, W, 3); got shape {image.shape}")
        if image.dtype == np.uint8:
            return image.astype(np.float32) / 255, lambda out: np.round(out * 255).astype(np.uint8)
        if image.dtype == np.uint16:
            return image.astype(np.float32) / 65535, lambda out: np.round(out * 65535).astype(np.uint16)
        if np.issubdtype(image.dtype, np.floating):
            return image.astype(np.float32), lambda out: out.astype(image.dtype)
        raise ValueError(f"a NumPy image must be uint8, uint16 or float in [0, 1]; got {image.dtype}")
    if isinstance(image, Tensor):
        if image.dim() not in (3, 4) or image.shape[-3] != 3 or (image.dim() == 4 and image.shape[0] != 1):
            raise ValueError(f"a tensor image must be (3, H, W) or (1, 3, H, W); got {tuple(image.shape)}")
        if not image.is_floating_point():
            raise ValueError(f"a tensor image must be floating point in [0, 1]; got {image.dtype}")
        rgb = image.reshape(3, *image.shape[-2:]).permute(1, 2, 0).float().cpu().numpy()
        return rgb, lambda out: torch.from_numpy(out).permute(2, 0, 1).reshape(image.shape).to(image)
    raise ValueError(f"enhance takes a PIL image, a NumPy array or a torch tensor; got {type(image).__name__}")


_CACHE: dict[tuple, Enhancer] = {}


def enhance(image: Any, model: str | nn.Module | None = None, strength: float = 1.0, device: str = "auto",
            dtype: str = "fp32", max_memory: float | None = None, tile: int | None = None,
            band: int | None = None) -> Any:
    """Enhance a low-light image; returns the same kind as given (PIL image, (H, W, 3) array, (3, H, W) tensor).
    The model defaults to the weights shipped in the package (see Enhancer for the other settings)."""
    rgb, give_back = _as_rgb(image)
    if isinstance(model, nn.Module):
        return give_back(Enhancer(model, device, dtype, max_memory, tile, strength, band)(rgb))
    key = (model, device, dtype, max_memory, tile, strength, band)        # the model is loaded once per setting
    if key not in _CACHE:
        _CACHE[key] = Enhancer(model, device, dtype, max_memory, tile, strength, band)
    return give_back(_CACHE[key](rgb))
