"""Workflow state as seed section 1.3 defines it, kept at ``workflow:{id}`` with a TTL.

The model is the stored contract (pydantic at the boundary between our code and
the store); the repository gives compare-and-set updates on top of the store.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field

from promptcraft.errors import RecordNotFoundError
from promptcraft.store import JSONObject, Record, StateStore, modify

WORKFLOW_KIND = "workflow"

WorkflowStatus = Literal[
    "created", "running", "waiting_approval", "completed", "failed", "cancelled"
]
StepStatus = Literal["pending", "running", "completed", "failed", "skipped"]
TERMINAL_STATUSES: frozenset[str] = frozenset({"completed", "failed", "cancelled"})


def utc_now() -> datetime:
    return datetime.now(UTC)


class PlanStep(BaseModel):
    step_id: int
    description: str
    agent: str
    status: StepStatus = "pending"
    started_at: datetime | None = None
    completed_at: datetime | None = None
    error: str | None = None


class Artifacts(BaseModel):
    generated_code: str | None = None
    test_results: JSONObject | None = None
    security_report: JSONObject | None = None
    documentation: str | None = None


class ApprovalRef(BaseModel):
    approval_id: str
    step_id: int
    description: str
    status: Literal["pending", "approved", "rejected"] = "pending"
    requested_at: datetime = Field(default_factory=utc_now)
    responded_at: datetime | None = None
    response_by: str | None = None


class Metrics(BaseModel):
    steps_completed: int = 0
    security_issues_found: int = 0
    security_issues_resolved: int = 0
    test_success_rate: float = 0.0
    total_cost: float = 0.0


class WorkflowState(BaseModel):
    workflow_id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    user_id: str
    status: WorkflowStatus = "created"
    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now)
    goal: str
    execution_plan: list[PlanStep] = Field(default_factory=list)
    current_step: int = 0
    artifacts: Artifacts = Field(default_factory=Artifacts)
    approvals: list[ApprovalRef] = Field(default_factory=list)
    metrics: Metrics = Field(default_factory=Metrics)
    context: JSONObject = Field(default_factory=dict)
    options: JSONObject = Field(default_factory=dict)

    @property
    def progress_percentage(self) -> float:
        """Share of plan steps finished; 0 for an empty plan (never a division by zero)."""
        if not self.execution_plan:
            return 100.0 if self.status == "completed" else 0.0
        done = sum(step.status in ("completed", "skipped") for step in self.execution_plan)
        return round(100 * done / len(self.execution_plan), 1)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


def _state(record: Record) -> WorkflowState:
    return WorkflowState.model_validate(record.data)


class WorkflowRepository:
    """Workflows in the store; every change is compare-and-set on the record's version."""

    def __init__(self, store: StateStore, ttl: timedelta) -> None:
        self._store = store
        self._ttl = ttl

    async def create(self, state: WorkflowState) -> WorkflowState:
        await self._store.create(
            WORKFLOW_KIND, state.workflow_id, state.model_dump(mode="json"), ttl=self._ttl
        )
        return state

    async def get(self, workflow_id: str) -> WorkflowState | None:
        record = await self._store.get(WORKFLOW_KIND, workflow_id)
        return None if record is None else _state(record)

    async def update(
        self, workflow_id: str, change: Callable[[WorkflowState], WorkflowState | None]
    ) -> WorkflowState:
        """Apply ``change`` to the current state and store it, retrying on a concurrent write.

        ``change`` returns the new state, or None to leave the workflow as it is.
        """

        def apply(record: Record) -> JSONObject | None:
            new = change(_state(record))
            if new is None:
                return None
            new.updated_at = utc_now()
            return new.model_dump(mode="json")

        record = await modify(self._store, WORKFLOW_KIND, workflow_id, apply, ttl=self._ttl)
        if record is None:
            raise RecordNotFoundError(f"workflow {workflow_id} does not exist or has expired")
        return _state(record)
