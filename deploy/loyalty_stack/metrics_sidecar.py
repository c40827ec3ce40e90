"""An AWS Distro for OpenTelemetry collector beside the server: it scrapes ``/metrics`` over the
task's loopback and writes chosen gauges to CloudWatch (embedded metric format), for the alarms.

The server serves ``/metrics`` on 127.0.0.1 only (``LOYALTY_METRICS_PORT``), which the sidecar
shares in Fargate's awsvpc network mode, so no token is needed and nothing is exposed.
"""

from __future__ import annotations

from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_logs as logs
from constructs import Construct

METRICS_PORT = 9464
METRICS_NAMESPACE = "Loyalty"
OUTBOX_AGE_METRIC = "loyalty_outbox_oldest_age_seconds"
_PUBLISHED = [OUTBOX_AGE_METRIC, "loyalty_outbox_depth"]

_CONFIG = """\
receivers:
  prometheus:
    config:
      scrape_configs:
        - job_name: loyalty
          scrape_interval: 60s
          static_configs:
            - targets: ["127.0.0.1:{port}"]
exporters:
  awsemf:
    namespace: {namespace}
    log_group_name: {log_group}
    dimension_rollup_option: NoDimensionRollup
    metric_declarations:
      - dimensions: [[outbox]]
        metric_name_selectors: [{selectors}]
service:
  pipelines:
    metrics:
      receivers: [prometheus]
      exporters: [awsemf]
"""


def add_metrics_sidecar(scope: Construct, task: ecs.FargateTaskDefinition, *, image: str) -> None:
    emf_logs = logs.LogGroup(scope, "MetricsLogs", retention=logs.RetentionDays.ONE_MONTH)
    emf_logs.grant_write(task.task_role)
    config = _CONFIG.format(
        port=METRICS_PORT,
        namespace=METRICS_NAMESPACE,
        log_group=emf_logs.log_group_name,
        selectors=", ".join(f'"^{name}$"' for name in _PUBLISHED),
    )
    task.add_container(
        "metrics",
        image=ecs.ContainerImage.from_registry(image),
        essential=False,  # losing the figures must not stop the server
        environment={"AOT_CONFIG_CONTENT": config},
        logging=ecs.LogDriver.aws_logs(
            stream_prefix="metrics",
            log_group=logs.LogGroup(scope, "CollectorLogs", retention=logs.RetentionDays.ONE_MONTH),
        ),
    )
