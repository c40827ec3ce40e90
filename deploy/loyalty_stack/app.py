"""The CDK app built from the context: ``deploy/app.py`` runs it for the CDK CLI, the tests call it.

Settings come from the CDK context (cdk.json, or ``-c imageTag=...`` on the command line), named as
DeploySettings' fields in camelCase, and ``account``, ``region``, ``availabilityZones``. Without an
account the stack is environment-agnostic (the region's first two zones via Fn::GetAZs), so that
synthesizing needs no AWS credentials; with one, name the zones or let the CDK CLI look them up.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from aws_cdk import App, Environment, Tags, Validations
from cdk_nag import AwsSolutionsChecks

from loyalty_stack.stack import DeploySettings, LoyaltyStack

STACK_NAME = "Loyalty"
# Set here rather than in cdk.json, so the tests synthesize what `cdk deploy` does.
FEATURE_FLAGS = {
    # A service without desiredCount keeps its count across deploys: autoscaling's, not 1's.
    "@aws-cdk/aws-ecs:removeDefaultDesiredCount": True,
}
DEFAULT_REGION = "us-east-1"


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.title() for part in rest)


def settings_from(app: App) -> DeploySettings:
    """DeploySettings from the context, converted to each field's type (the CLI passes strings)."""
    values: dict[str, Any] = {}
    for field in dataclasses.fields(DeploySettings):
        given = app.node.try_get_context(_camel(field.name))
        if given is not None:
            values[field.name] = int(given) if isinstance(field.default, int) else str(given)
    return DeploySettings(**values)


def build_app(context: dict[str, Any] | None = None, outdir: str | None = None) -> tuple[App, LoyaltyStack]:
    app = App(context={**FEATURE_FLAGS, **(context or {})}, outdir=outdir)
    region = app.node.try_get_context("region") or DEFAULT_REGION
    zones = app.node.try_get_context("availabilityZones")
    if isinstance(zones, str):
        zones = zones.split(",")
    stack = LoyaltyStack(
        app,
        STACK_NAME,
        settings=settings_from(app),
        availability_zones=list(zones) if zones else None,
        env=Environment(account=app.node.try_get_context("account"), region=region),
        description="Loyalty back office: ECS Fargate, RDS PostgreSQL, DynamoDB, API Gateway, Cognito, SES",
    )
    # DBProxyTargetGroup takes no Tags in CloudFormation's schema (cfn-lint E3002); the CDK offers them.
    Tags.of(stack).add("application", "loyalty", exclude_resource_types=["AWS::RDS::DBProxyTargetGroup"])
    # cdk-nag 3 is a policy-validation plugin: findings fail `app.synth()` unless acknowledged,
    # each acknowledgement with its reason beside the construct it concerns.
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app, stack
