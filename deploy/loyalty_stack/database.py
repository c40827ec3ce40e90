"""PostgreSQL on RDS (Multi-AZ, encrypted, backed up, protected from deletion) behind an RDS Proxy.

The server takes one ``LOYALTY_DATABASE_URL``; RDS keeps the credentials as a JSON secret. A second
secret holds the URL, assembled by CloudFormation from dynamic references to the first
(``{{resolve:secretsmanager:...}}``), so no password ever appears in the template. The password has
no punctuation, so it needs no escaping inside a URL.
"""

from __future__ import annotations

import string

from aws_cdk import Duration, Fn, RemovalPolicy, SecretValue
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from loyalty_stack.nag import acknowledge
from loyalty_stack.network import Network

DATABASE_NAME = "loyalty"
USERNAME = "loyalty"
POSTGRES_PORT = 5432  # the proxy listens on the engine's default port


class Database(Construct):
    def __init__(
        self, scope: Construct, id: str, *, network: Network, instance_type: str, backup_days: int
    ) -> None:
        super().__init__(scope, id)
        self.instance = rds.DatabaseInstance(
            self,
            "Postgres",
            engine=rds.DatabaseInstanceEngine.postgres(version=rds.PostgresEngineVersion.VER_17_9),
            instance_type=ec2.InstanceType(instance_type),
            vpc=network.vpc,
            vpc_subnets=network.data_subnets,
            multi_az=True,
            database_name=DATABASE_NAME,
            credentials=rds.Credentials.from_generated_secret(
                USERNAME, exclude_characters=string.punctuation
            ),
            storage_encrypted=True,
            allocated_storage=50,
            max_allocated_storage=500,
            storage_type=rds.StorageType.GP3,
            backup_retention=Duration.days(backup_days),
            delete_automated_backups=False,
            deletion_protection=True,
            removal_policy=RemovalPolicy.SNAPSHOT,
            auto_minor_version_upgrade=True,
            cloudwatch_logs_exports=["postgresql", "upgrade"],
            monitoring_interval=Duration.seconds(60),
            enable_performance_insights=True,
            publicly_accessible=False,
        )
        acknowledge(
            self.instance,
            "AwsSolutions-RDS11",
            "A non-default port hides nothing: the instance is in isolated subnets and its security"
            " group admits only the RDS Proxy.",
        )
        acknowledge(
            self.instance,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AmazonRDSEnhancedMonitoringRole]",
            "AWS's own policy for enhanced monitoring, which RDS alone can assume; it grants only"
            " writes to the RDSOSMetrics log group.",
        )
        assert self.instance.secret is not None  # from_generated_secret always makes one
        self.credentials = self.instance.secret
        self.proxy = self.instance.add_proxy(
            "Proxy",
            vpc=network.vpc,
            vpc_subnets=network.app_subnets,
            secrets=[self.credentials],
            require_tls=True,
            # Longer than the server's own pool recycling, so the proxy never cuts a borrowed one.
            idle_client_timeout=Duration.minutes(30),
        )
        self.instance.connections.allow_default_port_from(self.proxy, "RDS Proxy to PostgreSQL")

        def part(field: str) -> str:
            return self.credentials.secret_value_from_json(field).unsafe_unwrap()

        url = Fn.join(
            "",
            [
                "postgresql+asyncpg://",
                part("username"),
                ":",
                part("password"),
                "@",
                self.proxy.endpoint,
                f":{POSTGRES_PORT}/{DATABASE_NAME}",
            ],
        )
        self.url_secret = secretsmanager.Secret(
            self,
            "Url",
            description="LOYALTY_DATABASE_URL: the loyalty server's database, through the RDS Proxy",
            secret_string_value=SecretValue.unsafe_plain_text(url),
        )
        no_rotation = (
            "Rotating the master password would leave the URL secret (assembled at deploy time)"
            " stale; rotate by a deploy instead (docs/deploy.md: rotating the database password)."
        )
        acknowledge(self.instance, "AwsSolutions-SMG4", no_rotation)  # the credentials' secret
        acknowledge(self.url_secret, "AwsSolutions-SMG4", no_rotation)

    def allow_from(self, peer: ec2.IConnectable, description: str) -> None:
        """Let ``peer`` (a task or a Lambda) connect to the proxy, and only to the proxy."""
        self.proxy.connections.allow_from(peer, ec2.Port.tcp(POSTGRES_PORT), description)
