"""Tool adapters of the side-by-side benchmark, in report order."""

from __future__ import annotations

from .base import PHASES, PhaseFailed, PhaseRun, Tool
from .compose import Compose
from .python import ContainerMapApi, SdkPar, SdkSeq
from .salt import SaltDockerfabric, SaltextDockermod, SaltFormula

TOOLS: dict[str, type[Tool]] = {
    cls.name: cls
    for cls in (ContainerMapApi, SaltDockerfabric, SaltFormula, Compose, SaltextDockermod, SdkSeq, SdkPar)
}

__all__ = ["PHASES", "TOOLS", "PhaseFailed", "PhaseRun", "Tool"]
