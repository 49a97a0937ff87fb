"""The engine's phase names, as ``currentPhase`` counts them (0 = not started yet).

The API's schema and serializers and the dashboard all name phases from here.
"""

from __future__ import annotations

from engine.report import PHASES as ENGINE_PHASES
from engine.rollback import PHASES as ENGINE_ROLLBACK_PHASES

PHASES: dict[str, str] = {str(number): name for number, name in ENGINE_PHASES.items()}
ROLLBACK_PHASES: dict[str, str] = {str(n): name for n, name in ENGINE_ROLLBACK_PHASES.items()}
PHASES_TEXT = (
    "; ".join(f"{number} = {name}" for number, name in PHASES.items())
    + "; for ROLLBACK runs: "
    + "; ".join(f"{number} = {name}" for number, name in ROLLBACK_PHASES.items())
)


def phases_of(run_type: str) -> dict[str, str]:
    """The phase names of a run of ``run_type`` (rollbacks have their own)."""
    return ROLLBACK_PHASES if run_type == "ROLLBACK" else PHASES
