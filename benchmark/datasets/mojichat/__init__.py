"""MojiChat: stickerbench's embedded default dataset, generated offline from OpenMoji art.

``build_mojichat`` writes it in the MOD (DSTC10 Track 1) layout so the MOD loader reads it
unchanged; ``ensure_mojichat`` builds it once into a cache directory keyed by generator
version, seed and bias strength.
"""

from benchmark.datasets.mojichat.build import GENERATOR_VERSION, build_mojichat, ensure_mojichat

__all__ = ["GENERATOR_VERSION", "build_mojichat", "ensure_mojichat"]
