"""The `cozegate` command line (typer)."""
