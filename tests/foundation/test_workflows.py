from __future__ import annotations

import anyio
import pytest

from promptcraft.errors import RecordNotFoundError
from promptcraft.runtime import Runtime
from promptcraft.workflows import PlanStep, WorkflowRepository, WorkflowState

pytestmark = pytest.mark.anyio


async def test_a_workflow_is_stored_in_the_section_1_3_shape(runtime: Runtime) -> None:
    repo = WorkflowRepository(runtime.store, runtime.settings.workflow_ttl)
    state = WorkflowState(
        user_id="ada",
        goal="add input validation",
        execution_plan=[PlanStep(step_id=1, description="analyse", agent="code_analysis")],
    )
    await repo.create(state)
    record = await runtime.store.get("workflow", state.workflow_id)
    assert record is not None
    assert set(record.data) == {
        "workflow_id", "user_id", "status", "created_at", "updated_at", "goal", "execution_plan",
        "current_step", "artifacts", "approvals", "metrics", "context", "options",
    }  # fmt: skip
    assert record.data["status"] == "created"
    assert record.data["execution_plan"] == [
        {"step_id": 1, "description": "analyse", "agent": "code_analysis", "status": "pending",
         "started_at": None, "completed_at": None, "error": None}
    ]  # fmt: skip
    assert record.expires_at is not None
    remaining = (record.expires_at - record.updated_at).total_seconds()
    assert remaining == pytest.approx(24 * 3600, abs=5)


async def test_concurrent_step_updates_are_all_kept(runtime: Runtime) -> None:
    repo = WorkflowRepository(runtime.store, runtime.settings.workflow_ttl)
    plan = [PlanStep(step_id=i, description=f"s{i}", agent="a") for i in range(10)]
    state = await repo.create(WorkflowState(user_id="ada", goal="g", execution_plan=plan))

    def complete(step_id: int):  # type: ignore[no-untyped-def]
        def change(s: WorkflowState) -> WorkflowState:
            s.execution_plan[step_id].status = "completed"
            s.metrics.steps_completed += 1
            return s

        return change

    async with anyio.create_task_group() as tg:
        for i in range(10):
            tg.start_soon(repo.update, state.workflow_id, complete(i))
    final = await repo.get(state.workflow_id)
    assert final is not None
    assert final.metrics.steps_completed == 10
    assert final.progress_percentage == 100.0


async def test_progress_of_an_empty_plan_is_zero_not_a_division_by_zero(runtime: Runtime) -> None:
    assert WorkflowState(user_id="u", goal="g").progress_percentage == 0.0


async def test_updating_an_unknown_workflow_says_so(runtime: Runtime) -> None:
    repo = WorkflowRepository(runtime.store, runtime.settings.workflow_ttl)
    with pytest.raises(RecordNotFoundError, match="does not exist"):
        await repo.update("missing", lambda s: s)
