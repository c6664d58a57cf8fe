"""Low-light enhancement of anyone's photos: the `enhance` function, the `Enhancer`, photo I/O and tiling."""
from .api import DEFAULT_MODEL, Enhancer, enhance, load_enhancer
from .files import enhance_files, plan_jobs
from .images import Photo, read_photo, write_photo

__all__ = ["DEFAULT_MODEL", "Enhancer", "Photo", "enhance", "enhance_files", "load_enhancer", "plan_jobs", "read_photo",
           "write_photo"]
