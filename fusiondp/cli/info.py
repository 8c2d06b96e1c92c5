"""``fusiondp info``: versions, the compute device and which imputers can run here (and why not), for a bug report or
a missing TabPFN."""

from __future__ import annotations

import platform
from importlib import metadata

import typer


def info() -> None:
    """Versions, the compute device and which imputers can run here (and why not)."""
    import torch

    from fusiondp.impute import available_imputers

    typer.echo(f"python {platform.python_version()} on {platform.platform()}")
    for package in ("fusiondp", "torch", "opacus", "dp-accounting", "scikit-learn", "pandas", "tabpfn"):
        try:
            typer.echo(f"{package}: {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            typer.echo(f"{package}: not installed")
    cuda = torch.cuda.is_available()
    typer.echo(f"device: {'cuda (' + torch.cuda.get_device_name(0) + ')' if cuda else 'cpu (no CUDA GPU found)'}")
    for name, reason in available_imputers().items():
        typer.echo(f"imputer {name}: {'available' if reason is None else 'unavailable: ' + reason}")
