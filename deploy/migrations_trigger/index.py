"""Run ``loyalty migrate`` as a one-off ECS task and wait for it: the deploy's migration step.

Invoked by a CDK ``triggers.Trigger`` after the database and before the service updates. Failing
here (the task did not start, or exited non-zero) fails the CloudFormation deployment, which rolls
back before any task of the new image serves a request against an unmigrated schema.
"""

from __future__ import annotations

import os
from typing import Any

import boto3

_ecs = boto3.client("ecs")
_POLL_SECONDS = 10
_POLLS = 80  # 13 min 20 s, inside the function's 14-minute timeout


def handler(event: Any, context: Any) -> dict[str, str]:
    cluster = os.environ["CLUSTER"]
    started = _ecs.run_task(
        cluster=cluster,
        taskDefinition=os.environ["TASK_DEFINITION"],
        launchType="FARGATE",
        count=1,
        startedBy="loyalty-deploy",
        networkConfiguration={
            "awsvpcConfiguration": {
                "subnets": os.environ["SUBNETS"].split(","),
                "securityGroups": [os.environ["SECURITY_GROUP"]],
                "assignPublicIp": "DISABLED",
            }
        },
    )
    if started.get("failures") or not started.get("tasks"):
        raise RuntimeError(f"the migration task did not start: {started.get('failures')}")
    task_arn = started["tasks"][0]["taskArn"]
    _ecs.get_waiter("tasks_stopped").wait(
        cluster=cluster, tasks=[task_arn], WaiterConfig={"Delay": _POLL_SECONDS, "MaxAttempts": _POLLS}
    )
    task = _ecs.describe_tasks(cluster=cluster, tasks=[task_arn])["tasks"][0]
    exit_codes = {container["name"]: container.get("exitCode") for container in task["containers"]}
    if any(code != 0 for code in exit_codes.values()):
        raise RuntimeError(
            f"loyalty migrate failed: exit codes {exit_codes}, {task.get('stoppedReason')};"
            f" its output is in the log group {os.environ['LOG_GROUP']}"
        )
    return {"task": task_arn}
