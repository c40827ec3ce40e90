"""The VPC: two AZs, public subnets for the NAT gateways only, private ones for tasks and Lambdas,
isolated ones for the database.

NAT gateways rather than interface endpoints for everything: the tasks and the email Lambda reach
ECR, CloudWatch Logs, Secrets Manager, SES, Cognito's JWKS and any OTLP collector, which would be
eight or more interface endpoints per AZ (each billed hourly) and still leave Cognito's discovery
document and third-party endpoints unreachable. DynamoDB and S3 (ECR's image layers) get free gateway
endpoints, so the bulk of the traffic (log shipping, image pulls) does not pass the NAT.
"""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct

ZONES = 2


class Network(Construct):
    def __init__(self, scope: Construct, id: str, *, availability_zones: list[str] | None) -> None:
        """``availability_zones`` named, or None for the region's first two (Fn::GetAZs, when the
        stack has no account; with an account the CDK CLI looks them up)."""
        super().__init__(scope, id)
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            availability_zones=availability_zones,
            max_azs=None if availability_zones else ZONES,
            # One NAT per AZ: losing an AZ does not take the other's egress with it.
            nat_gateways=len(availability_zones or range(ZONES)),
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
                ec2.SubnetConfiguration(
                    name="app", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=22
                ),
                ec2.SubnetConfiguration(
                    name="data", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24
                ),
            ],
            gateway_endpoints={
                "DynamoDb": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.DYNAMODB),
                "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3),
            },
        )
        self.vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(
                logs.LogGroup(self, "FlowLogs", retention=logs.RetentionDays.THREE_MONTHS)
            ),
        )
        self.app_subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)
        self.data_subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
