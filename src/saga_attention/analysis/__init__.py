"""Analyses of attention layers on real inputs."""
from .decomposition import check_decomposition, load_photos

__all__ = ["check_decomposition", "load_photos"]
