"""The email Lambda (``loyalty.lambda_email``) with its SQS queue, dead-letter queue and schedule.

Two ways in, both from the handler's docstring: SQS records (``{"outbox_id": ...}``, e.g. an
operator replaying a message) with ``ReportBatchItemFailures``, and a one-minute EventBridge schedule
that sends whatever the outbox holds that is due, retries included. The server itself only writes the
outbox (``LOYALTY_EMAIL_WORKER_IN_PROCESS=false``), so no task needs to send to the queue.
"""

from __future__ import annotations

from email.utils import parseaddr

from aws_cdk import AssetHashType, Duration, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from loyalty_stack.database import Database
from loyalty_stack.lambda_bundle import HANDLER, PYTHON_VERSION, email_lambda_code
from loyalty_stack.nag import acknowledge
from loyalty_stack.network import Network

FUNCTION_TIMEOUT = Duration.seconds(60)
MAX_CONCURRENCY = 3  # invocations the queue drives at once
MAX_RECEIVES = 5  # deliveries of one record before it moves to the dead-letter queue


class Email(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        network: Network,
        database: Database,
        environment: dict[str, str],
        email_from: str,
    ) -> None:
        super().__init__(scope, id)
        self.dead_letters = sqs.Queue(
            self,
            "DeadLetters",
            retention_period=Duration.days(14),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            # AWS's advice for a Lambda source: at least six times the function's timeout.
            visibility_timeout=Duration.seconds(FUNCTION_TIMEOUT.to_seconds() * 6),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letters, max_receive_count=MAX_RECEIVES),
        )
        self.security_group = ec2.SecurityGroup(
            self, "SecurityGroup", vpc=network.vpc, description="The email Lambda", allow_all_outbound=True
        )
        database.allow_from(self.security_group, "The email Lambda to the RDS Proxy")
        stack = Stack.of(self)
        code = email_lambda_code()
        self.function = lambda_.Function(
            self,
            "Sender",
            runtime=lambda_.Runtime(f"python{PYTHON_VERSION}", lambda_.RuntimeFamily.PYTHON),
            architecture=lambda_.Architecture.X86_64,
            handler=HANDLER,
            # The folder's name is the fingerprint of what it was built from: CDK need not hash
            # its ~150 MB again.
            code=lambda_.Code.from_asset(
                str(code), asset_hash=code.name, asset_hash_type=AssetHashType.CUSTOM
            ),
            timeout=FUNCTION_TIMEOUT,
            memory_size=512,
            vpc=network.vpc,
            vpc_subnets=network.app_subnets,
            security_groups=[self.security_group],
            environment={
                **environment,
                "LOYALTY_SECRET_ARNS": stack.to_json_string(
                    {"LOYALTY_DATABASE_URL": database.url_secret.secret_arn}
                ),
            },
            log_group=logs.LogGroup(self, "Logs", retention=logs.RetentionDays.THREE_MONTHS),
            tracing=lambda_.Tracing.ACTIVE,
        )
        acknowledge(
            self.function,
            "AwsSolutions-L1",
            f"python{PYTHON_VERSION} on Amazon Linux 2023: the manylinux wheels the code is built from"
            f" (loyalty_stack/lambda_bundle.py) are resolved for {PYTHON_VERSION} from uv.lock;"
            " move both together.",
        )
        _acknowledge_lambda_role(self.function)
        database.url_secret.grant_read(self.function)
        self.function.add_event_source(
            sources.SqsEventSource(
                self.queue,
                batch_size=10,
                report_batch_item_failures=True,
                # A few at once: each holds database connections through the proxy. (Reserved
                # concurrency would do it too, but fails to deploy in accounts at the minimum quota.)
                max_concurrency=MAX_CONCURRENCY,
            )
        )
        events.Rule(
            self,
            "DueMessages",
            description="Send the outbox's due emails (retries included) every minute",
            schedule=events.Schedule.rate(Duration.minutes(1)),
            targets=[targets.LambdaFunction(self.function, retry_attempts=0)],
        )
        # Send as the configured sender's domain identity, and only from that address.
        domain = parseaddr(email_from)[1].rpartition("@")[2]
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["ses:SendEmail", "ses:SendRawEmail"],
                resources=[stack.format_arn(service="ses", resource="identity", resource_name=domain)],
                conditions={"StringEquals": {"ses:FromAddress": parseaddr(email_from)[1]}},
            )
        )


def _acknowledge_lambda_role(function: lambda_.Function) -> None:
    """The managed policies and wildcards every VPC Lambda with tracing gets from the CDK."""
    assert function.role is not None
    for policy in ("AWSLambdaBasicExecutionRole", "AWSLambdaVPCAccessExecutionRole"):
        acknowledge(
            function.role,
            f"AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/{policy}]",
            "AWS's policy for a Lambda's own logs and its VPC network interfaces: nothing more.",
        )
    acknowledge(
        function.role,
        "AwsSolutions-IAM5[Resource::*]",
        "X-Ray's PutTraceSegments and PutTelemetryRecords accept no narrower resource.",
    )
