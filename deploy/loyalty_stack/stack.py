"""The whole deployment as one stack, wiring the constructs and the server's ``LOYALTY_*`` settings."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from loyalty_stack.alarms import Alarms
from loyalty_stack.api import Api
from loyalty_stack.database import Database
from loyalty_stack.email import Email
from loyalty_stack.identity import Identity
from loyalty_stack.log_table import LogTable
from loyalty_stack.network import Network
from loyalty_stack.service import Service


@dataclass(frozen=True, slots=True)
class DeploySettings:
    """What differs between deployments: from ``cdk.json``'s context or ``cdk deploy -c name=value``."""

    image_tag: str = "latest"
    ecr_repository: str = "loyalty"
    signing_key_secret: str = "loyalty/jwt-private-key"
    email_from: str = "Loyalty <no-reply@example.com>"
    console_url: str | None = None  # default: the API's own URL (the server serves the console)
    public_url: str | None = None  # a custom domain in front of the API; default: the API's URL
    alarm_email: str | None = None
    # Staff roles from Cognito group membership (1), or from the server's own user rows (0).
    role_from_cognito_groups: int = 1
    log_table_name: str = "loyalty-activity-log"
    db_instance_type: str = "t4g.medium"
    db_backup_days: int = 14
    min_tasks: int = 2
    max_tasks: int = 10
    api_rate_limit: int = 500  # requests per second, steady, for the whole API
    api_burst_limit: int = 1000
    collector_image: str = "public.ecr.aws/aws-observability/aws-otel-collector:v0.43.3"


class LoyaltyStack(Stack):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        settings: DeploySettings,
        availability_zones: list[str] | None,
        **kwargs,
    ) -> None:
        super().__init__(scope, id, **kwargs)
        network = Network(self, "Network", availability_zones=availability_zones)
        database = Database(
            self,
            "Database",
            network=network,
            instance_type=settings.db_instance_type,
            backup_days=settings.db_backup_days,
        )
        log_table = LogTable(self, "ActivityLog", table_name=settings.log_table_name)
        identity = Identity(
            self, "Identity", callback_urls=[f"{settings.console_url or 'https://localhost'}/"]
        )
        # Created once by hand (docs/deploy.md): CloudFormation cannot generate an RSA key pair.
        signing_key = secretsmanager.Secret.from_secret_name_v2(
            self, "SigningKey", settings.signing_key_secret
        )

        shared = {
            "LOYALTY_AWS_REGION": self.region,
            "LOYALTY_EMAIL_SENDER": "ses",
            "LOYALTY_EMAIL_FROM": settings.email_from,
        }
        email = Email(
            self,
            "Email",
            network=network,
            database=database,
            environment=shared,
            email_from=settings.email_from,
        )
        service = Service(
            self,
            "Server",
            network=network,
            database=database,
            repository_name=settings.ecr_repository,
            image_tag=settings.image_tag,
            environment=shared,  # completed below, once the API's URL exists
            secrets={
                "LOYALTY_DATABASE_URL": ecs.Secret.from_secrets_manager(database.url_secret),
                "LOYALTY_JWT_PRIVATE_KEY": ecs.Secret.from_secrets_manager(signing_key),
            },
            min_tasks=settings.min_tasks,
            max_tasks=settings.max_tasks,
            collector_image=settings.collector_image,
        )
        api = Api(
            self,
            "Api",
            network=network,
            service=service,
            rate_limit=settings.api_rate_limit,
            burst_limit=settings.api_burst_limit,
        )
        public_url = settings.public_url or api.url
        for name, value in {
            "LOYALTY_PUBLIC_URL": public_url,
            "LOYALTY_CONSOLE_URL": settings.console_url or public_url,
            "LOYALTY_LOG_STORE": "dynamodb",
            "LOYALTY_DYNAMODB_TABLE": log_table.table.table_name,
            "LOYALTY_OIDC_ISSUER": identity.issuer,
            "LOYALTY_OIDC_AUDIENCE": identity.client.user_pool_client_id,
            "LOYALTY_OIDC_ROLE_CLAIM": "cognito:groups",
            "LOYALTY_OIDC_ROLE_FROM_CLAIM": "true" if settings.role_from_cognito_groups else "false",
            "LOYALTY_EMAIL_WORKER_IN_PROCESS": "false",  # the email Lambda sends
            # The ALB's addresses: X-Forwarded-For from inside the VPC is believed, nothing else.
            "LOYALTY_TRUSTED_PROXIES": network.vpc.vpc_cidr_block,
        }.items():
            service.container.add_environment(name, value)
        email.function.add_environment("LOYALTY_CONSOLE_URL", settings.console_url or public_url)

        # The task role: the log table and its indexes, each by name, nothing else. ECS reads the
        # two secrets with the execution role before the container starts; the server never calls
        # Secrets Manager, and never sends to the email queue (it writes the outbox).
        service.task_definition.task_role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["dynamodb:BatchWriteItem", "dynamodb:Query", "dynamodb:DescribeTable"],
                resources=[log_table.table.table_arn, *log_table.index_arns],
            )
        )

        Alarms(self, "Alarms", api=api, service=service, email=email, notify_email=settings.alarm_email)
        CfnOutput(self, "ApiUrl", value=api.url)
        CfnOutput(self, "UserPoolId", value=identity.user_pool.user_pool_id)
        CfnOutput(self, "UserPoolClientId", value=identity.client.user_pool_client_id)
        CfnOutput(self, "EmailQueueUrl", value=email.queue.queue_url)
        CfnOutput(self, "EmailDeadLetterQueueUrl", value=email.dead_letters.queue_url)
        CfnOutput(self, "MigrateTaskDefinition", value=service.migrate_task.task_definition_arn)
        CfnOutput(self, "ClusterName", value=service.cluster.cluster_name)
