"""A stand-in for mlx_lm.server: the same HTTP API, a deterministic text generator, fault injection."""

# The mlx_lm.server behaviour this stand-in reproduces (research/mlx_lm_server.md, HEAD ~ 0.32).
__version__ = "0.32.0"
