"""A stand-in for mlx_lm.server: the same HTTP API, a deterministic text generator, fault injection."""

# The mlx_lm.server this stand-in reproduces: 0.32, compared on the wire with the real 0.32.2 by
# test/mlx/standin-vs-real.test.ts (docs/mlx-lm.md lists what it does differently on purpose).
__version__ = "0.32.0"
