"""CloudWatch alarms, all to one SNS topic: 5xx and p99 latency at the API and the ALB, the outboxes'
oldest waiting item, and the email dead-letter queue.

The outbox ages come from the server's Prometheus gauge ``loyalty_outbox_oldest_age_seconds``
(label ``outbox``: ``log_entries``, ``emails``), which the task's collector sidecar publishes to the
``Loyalty`` namespace (loyalty_stack/metrics_sidecar.py).
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from loyalty_stack.api import Api
from loyalty_stack.email import Email
from loyalty_stack.metrics_sidecar import METRICS_NAMESPACE, OUTBOX_AGE_METRIC
from loyalty_stack.service import Service

FIVE_MINUTES = Duration.minutes(5)
OUTBOXES = {"log_entries": 600, "emails": 1800}  # oldest waiting item, seconds, before someone looks


class Alarms(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        api: Api,
        service: Service,
        email: Email,
        notify_email: str | None,
    ) -> None:
        super().__init__(scope, id)
        self.topic = sns.Topic(self, "Topic", display_name="Loyalty alarms", enforce_ssl=True)
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
            )
        )
        if notify_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(notify_email))
        action = actions.SnsAction(self.topic)
        balancer = service.load_balancer.metrics
        targets = service.target_group.metrics

        def alarm(
            name: str, metric: cloudwatch.IMetric, threshold: float, what: str, periods: int = 1
        ) -> None:
            created = cloudwatch.Alarm(
                self,
                name,
                alarm_description=what,
                metric=metric,
                threshold=threshold,
                evaluation_periods=periods,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            created.add_alarm_action(action)
            created.add_ok_action(action)

        alarm(
            "Api5xx",
            api.http_api.metric_server_error(period=FIVE_MINUTES, statistic="Sum"),
            10,
            "API Gateway answered more than 10 5xx in 5 minutes",
        )
        alarm(
            "ApiLatencyP99",
            api.http_api.metric_latency(period=FIVE_MINUTES, statistic="p99"),
            2000,
            "API Gateway p99 latency above 2 s for 15 minutes",
            periods=3,
        )
        alarm(
            "Targets5xx",
            balancer.http_code_target(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, period=FIVE_MINUTES),
            10,
            "The server answered more than 10 5xx in 5 minutes",
        )
        alarm(
            "LoadBalancer5xx",
            balancer.http_code_elb(elbv2.HttpCodeElb.ELB_5XX_COUNT, period=FIVE_MINUTES),
            10,
            "The ALB itself answered more than 10 5xx in 5 minutes (no healthy task?)",
        )
        alarm(
            "TargetLatencyP99",
            targets.target_response_time(period=FIVE_MINUTES, statistic="p99"),
            1,
            "The server's p99 response time above 1 s for 15 minutes",
            periods=3,
        )
        alarm(
            "UnhealthyTasks",
            targets.unhealthy_host_count(period=Duration.minutes(1), statistic="Maximum"),
            0,
            "A task failed its readiness check (/readyz) for 3 minutes",
            periods=3,
        )
        for outbox, seconds in OUTBOXES.items():
            alarm(
                f"OutboxAge{outbox.title().replace('_', '')}",
                cloudwatch.Metric(
                    namespace=METRICS_NAMESPACE,
                    metric_name=OUTBOX_AGE_METRIC,
                    dimensions_map={"outbox": outbox},
                    period=FIVE_MINUTES,
                    statistic="Maximum",
                ),
                seconds,
                f"The {outbox} outbox's oldest item has waited over {seconds} s: is its sender stuck?",
                periods=2,
            )
        alarm(
            "EmailDeadLetters",
            email.dead_letters.metric_approximate_number_of_messages_visible(
                period=FIVE_MINUTES, statistic="Maximum"
            ),
            0,
            "An email request reached the dead-letter queue (see docs/deploy.md: replaying)",
        )
