"""The server on ECS Fargate behind an internal ALB, autoscaled, with migrations run before it updates.

Health: the target group checks ``/readyz`` (the task can reach its database: otherwise it leaves
rotation), the container's own check is ``/healthz`` (the process answers: otherwise ECS replaces it).

Migrations: a ``triggers.Trigger`` runs ``loyalty migrate`` as a one-off task (migrations_trigger/)
and waits for its exit code, ordered after the database and before the service. An
``AwsCustomResource`` calling ecs:RunTask would only start the task, not wait for it, so the new
image could serve before its schema exists. The trigger runs again whenever its function's version
changes; the function carries the image's name and tag, so every deploy of a new tag migrates first.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, Fn, RemovalPolicy, Stack, triggers
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from loyalty_stack.database import Database
from loyalty_stack.metrics_sidecar import METRICS_PORT, add_metrics_sidecar
from loyalty_stack.nag import acknowledge
from loyalty_stack.network import Network

PORT = 8000  # the image's EXPOSE and LOYALTY_PORT
MIGRATIONS_TRIGGER = Path(__file__).resolve().parents[1] / "migrations_trigger"
_LINUX_X86 = ecs.RuntimePlatform(
    cpu_architecture=ecs.CpuArchitecture.X86_64, operating_system_family=ecs.OperatingSystemFamily.LINUX
)
_CHECK = "import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}{path}', timeout=2)"


class Service(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        network: Network,
        database: Database,
        repository_name: str,
        image_tag: str,
        environment: dict[str, str],
        secrets: dict[str, ecs.Secret],
        min_tasks: int,
        max_tasks: int,
        collector_image: str,
    ) -> None:
        super().__init__(scope, id)
        vpc = network.vpc
        image = ecs.ContainerImage.from_ecr_repository(
            ecr.Repository.from_repository_name(self, "Repository", repository_name), image_tag
        )
        self.cluster = ecs.Cluster(
            self, "Cluster", vpc=vpc, container_insights_v2=ecs.ContainerInsights.ENHANCED
        )
        self.security_group = ec2.SecurityGroup(
            self, "TaskSecurityGroup", vpc=vpc, description="Loyalty server tasks", allow_all_outbound=True
        )
        database.allow_from(self.security_group, "Loyalty server tasks to the RDS Proxy")

        self.task_definition = ecs.FargateTaskDefinition(
            self, "Server", cpu=1024, memory_limit_mib=2048, runtime_platform=_LINUX_X86
        )
        self.logs = logs.LogGroup(self, "ServerLogs", retention=logs.RetentionDays.THREE_MONTHS)
        self.container = self.task_definition.add_container(
            "loyalty",
            image=image,
            command=["serve"],  # the image's ENTRYPOINT is `loyalty`
            port_mappings=[ecs.PortMapping(container_port=PORT)],
            environment={
                **environment,
                "LOYALTY_HOST": "0.0.0.0",
                "LOYALTY_PORT": str(PORT),
                "LOYALTY_METRICS_PORT": str(METRICS_PORT),  # on 127.0.0.1: the sidecar's only
            },
            secrets=secrets,
            logging=ecs.LogDriver.aws_logs(stream_prefix="server", log_group=self.logs),
            health_check=ecs.HealthCheck(
                command=["CMD", "python", "-c", _CHECK.format(port=PORT, path="/healthz")],
                interval=Duration.seconds(15),
                timeout=Duration.seconds(5),
                retries=3,
                start_period=Duration.seconds(30),
            ),
            stop_timeout=Duration.seconds(30),  # SIGTERM, then in-flight requests finish
        )
        add_metrics_sidecar(self, self.task_definition, image=collector_image)
        acknowledge(
            self.task_definition,
            "AwsSolutions-ECS2",
            "Only settings that are not secret are plain environment variables; the database URL"
            " and the signing key come from Secrets Manager (ecs.Secret).",
        )
        _acknowledge_execution_role(self.task_definition)

        self.load_balancer = elbv2.ApplicationLoadBalancer(
            self,
            "LoadBalancer",
            vpc=vpc,
            vpc_subnets=network.app_subnets,
            internet_facing=False,  # reached only through API Gateway's VPC link
            drop_invalid_header_fields=True,
            deletion_protection=True,
        )
        self.load_balancer.log_access_logs(_access_log_bucket(self))
        # HTTP inside the VPC: only the VPC link reaches it, and API Gateway terminates TLS.
        self.listener = self.load_balancer.add_listener("Http", port=80, open=False)
        self.service = ecs.FargateService(
            self,
            "Service",
            cluster=self.cluster,
            task_definition=self.task_definition,
            # No desired count: a deploy must not reset what autoscaling chose (min_tasks bounds it).
            vpc_subnets=network.app_subnets,
            security_groups=[self.security_group],
            assign_public_ip=False,
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            min_healthy_percent=100,
            max_healthy_percent=200,
            health_check_grace_period=Duration.seconds(60),
        )
        self.target_group = self.listener.add_targets(
            "Server",
            port=PORT,
            protocol=elbv2.ApplicationProtocol.HTTP,
            targets=[self.service],
            deregistration_delay=Duration.seconds(30),
            health_check=elbv2.HealthCheck(
                path="/readyz",
                healthy_http_codes="200",
                interval=Duration.seconds(15),
                timeout=Duration.seconds(5),
                healthy_threshold_count=2,
                unhealthy_threshold_count=3,
            ),
        )
        scaling = self.service.auto_scale_task_count(min_capacity=min_tasks, max_capacity=max_tasks)
        scaling.scale_on_cpu_utilization("Cpu", target_utilization_percent=60)
        scaling.scale_on_request_count("Requests", requests_per_target=1000, target_group=self.target_group)

        self._migrations(network, database, image, f"{repository_name}:{image_tag}", secrets)

    def allow_from(self, peer: ec2.IConnectable, description: str) -> None:
        self.load_balancer.connections.allow_from(peer, ec2.Port.tcp(80), description)

    def _migrations(
        self,
        network: Network,
        database: Database,
        image: ecs.ContainerImage,
        image_name: str,
        secrets: dict[str, ecs.Secret],
    ) -> None:
        task = ecs.FargateTaskDefinition(
            self, "Migrate", cpu=256, memory_limit_mib=512, runtime_platform=_LINUX_X86
        )
        log_group = logs.LogGroup(self, "MigrateLogs", retention=logs.RetentionDays.THREE_MONTHS)
        task.add_container(
            "migrate",
            image=image,
            command=["migrate"],
            secrets={"LOYALTY_DATABASE_URL": secrets["LOYALTY_DATABASE_URL"]},
            logging=ecs.LogDriver.aws_logs(stream_prefix="migrate", log_group=log_group),
        )
        subnets = network.vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS).subnet_ids
        trigger = triggers.TriggerFunction(
            self,
            "RunMigrations",
            runtime=lambda_.Runtime.PYTHON_3_14,
            handler="index.handler",
            code=lambda_.Code.from_asset(str(MIGRATIONS_TRIGGER)),
            timeout=Duration.minutes(14),
            environment={
                "CLUSTER": self.cluster.cluster_name,
                "TASK_DEFINITION": task.task_definition_arn,
                "SUBNETS": Fn.join(",", subnets),
                "SECURITY_GROUP": self.security_group.security_group_id,
                "LOG_GROUP": log_group.log_group_name,
                # Literal, unlike the ARN above (a Ref in the template): a new tag changes the
                # function's version, and a new version is what makes the trigger run again.
                "IMAGE": image_name,
            },
            log_group=logs.LogGroup(self, "RunMigrationsLogs", retention=logs.RetentionDays.THREE_MONTHS),
            # The whole VPC: the task pulls its image through the NAT routes, not only the subnets.
            execute_after=[network.vpc, database.instance, database.proxy, database.url_secret],
            execute_before=[self.service],
        )
        _acknowledge_execution_role(task)
        assert trigger.role is not None
        acknowledge(
            trigger.role,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSLambdaBasicExecutionRole]",
            "AWS's policy for a Lambda writing its own logs: nothing more.",
        )
        acknowledge(
            trigger.role,
            f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecs:{Stack.of(self).region}:"
            "<AWS::AccountId>:task/<ServerCluster98471F84>/*]",
            "DescribeTasks on the tasks of this cluster: a task's id is known only once it runs.",
        )
        stack = Stack.of(self)
        trigger.add_to_role_policy(
            iam.PolicyStatement(
                actions=["ecs:RunTask"],
                resources=[task.task_definition_arn],
                conditions={"ArnEquals": {"ecs:cluster": self.cluster.cluster_arn}},
            )
        )
        trigger.add_to_role_policy(
            iam.PolicyStatement(
                actions=["ecs:DescribeTasks"],
                resources=[
                    stack.format_arn(
                        service="ecs", resource="task", resource_name=f"{self.cluster.cluster_name}/*"
                    )
                ],
            )
        )
        roles = [task.task_role.role_arn]
        if task.execution_role is not None:
            roles.append(task.execution_role.role_arn)
        trigger.add_to_role_policy(iam.PolicyStatement(actions=["iam:PassRole"], resources=roles))
        self.migrate_task = task


def _acknowledge_execution_role(task: ecs.TaskDefinition) -> None:
    assert task.execution_role is not None
    acknowledge(
        task.execution_role,
        "AwsSolutions-IAM5[Resource::*]",
        "ecr:GetAuthorizationToken accepts no narrower resource; the image pulls themselves are"
        " limited to the one repository.",
    )


def _access_log_bucket(scope: Construct) -> s3.Bucket:
    """The ALB's access logs: SSE-S3 (the only encryption ALB logging supports), kept 90 days."""
    bucket = s3.Bucket(
        scope,
        "AccessLogs",
        encryption=s3.BucketEncryption.S3_MANAGED,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(90))],
        removal_policy=RemovalPolicy.RETAIN,
    )
    acknowledge(
        bucket,
        "AwsSolutions-S1",
        "This bucket holds access logs already; logging access to it would need yet another bucket.",
    )
    return bucket
