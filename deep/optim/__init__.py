"""Optimisers for low-rank adapters. Imports only torch (no other ``deep`` module)."""

from deep.optim.loft import LoFT, loft_pairs, named_loft_pairs

__all__ = ["LoFT", "loft_pairs", "named_loft_pairs"]
