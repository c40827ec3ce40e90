"""API Gateway HTTP API in front of the internal ALB (VPC link), throttled and access-logged; WAF.

The WAF sits on the ALB: WAFv2 cannot be associated with an HTTP API (only REST APIs, ALBs,
CloudFront, AppSync and a few more), and a REST API would cost more per request and lose the HTTP
API's private ALB integration. Every request still passes it, as the ALB is reachable only from the
VPC link. Behind the VPC link the packet's source is API Gateway, so the rate rule keys on the
client address API Gateway writes into X-Forwarded-For, and the IP reputation list (which reads the
packet's source) is left out. API Gateway appends to a client's own X-Forwarded-For, whose first
address WAF reads, so a determined client can vary it: the server's per-caller budgets stay the
real limit, this rule a coarse first one.
"""

from __future__ import annotations

import jsii
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from loyalty_stack.nag import acknowledge
from loyalty_stack.network import Network
from loyalty_stack.service import Service

# (rule group, rules set to COUNT instead of BLOCK, and why)
_MANAGED_RULE_GROUPS: list[tuple[str, list[str]]] = [
    # GraphQL documents and variables travel in POST bodies up to LOYALTY_MAX_BODY_BYTES (1 MiB),
    # above this group's 8 KiB body limit; the server enforces its own body and document limits.
    ("AWSManagedRulesCommonRuleSet", ["SizeRestrictions_BODY"]),
    ("AWSManagedRulesKnownBadInputsRuleSet", []),
    ("AWSManagedRulesSQLiRuleSet", []),
]
RATE_LIMIT_PER_5_MINUTES = 3000  # per client address, before the server's own budgets


class Api(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        network: Network,
        service: Service,
        rate_limit: int,
        burst_limit: int,
    ) -> None:
        super().__init__(scope, id)
        link_security_group = ec2.SecurityGroup(
            self, "VpcLinkSecurityGroup", vpc=network.vpc, description="API Gateway VPC link to the ALB"
        )
        service.allow_from(link_security_group, "API Gateway's VPC link")
        link = apigwv2.VpcLink(
            self,
            "VpcLink",
            vpc=network.vpc,
            subnets=network.app_subnets,
            security_groups=[link_security_group],
        )
        self.http_api = apigwv2.HttpApi(
            self,
            "HttpApi",
            description="The loyalty back office: GraphQL, OAuth token and JWKS endpoints",
            default_integration=integrations.HttpAlbIntegration("Alb", service.listener, vpc_link=link),
            create_default_stage=False,
        )
        acknowledge(
            self.http_api,
            "AwsSolutions-APIG4",
            "The server authorizes every operation itself (its own tokens, Cognito's, partner"
            " clients') and must also serve anonymous sign-in, /oauth/token and the JWKS.",
        )
        self.access_logs = logs.LogGroup(self, "AccessLogs", retention=logs.RetentionDays.ONE_YEAR)
        self.stage = apigwv2.HttpStage(
            self,
            "DefaultStage",
            http_api=self.http_api,
            stage_name="$default",
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(rate_limit=rate_limit, burst_limit=burst_limit),
            detailed_metrics_enabled=True,
            access_log_settings=_AccessLogs(
                apigwv2.LogGroupLogDestination(self.access_logs),
                apigw.AccessLogFormat.json_with_standard_fields(
                    caller=False,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=False,
                ),
            ),
        )
        self.url = self.http_api.api_endpoint
        self.web_acl = self._web_acl(service)

    def _web_acl(self, service: Service) -> wafv2.CfnWebACL:
        rules = [
            wafv2.CfnWebACL.RuleProperty(
                name=group,
                priority=priority,
                statement=wafv2.CfnWebACL.StatementProperty(
                    managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                        vendor_name="AWS",
                        name=group,
                        rule_action_overrides=[
                            wafv2.CfnWebACL.RuleActionOverrideProperty(
                                name=rule, action_to_use=wafv2.CfnWebACL.RuleActionProperty(count={})
                            )
                            for rule in counted
                        ]
                        or None,
                    )
                ),
                override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                visibility_config=_visibility(group),
            )
            for priority, (group, counted) in enumerate(_MANAGED_RULE_GROUPS)
        ]
        rules.append(
            wafv2.CfnWebACL.RuleProperty(
                name="RatePerClient",
                priority=len(rules),
                statement=wafv2.CfnWebACL.StatementProperty(
                    rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                        limit=RATE_LIMIT_PER_5_MINUTES,
                        aggregate_key_type="FORWARDED_IP",
                        forwarded_ip_config=wafv2.CfnWebACL.ForwardedIPConfigurationProperty(
                            header_name="X-Forwarded-For", fallback_behavior="MATCH"
                        ),
                    )
                ),
                action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                visibility_config=_visibility("RatePerClient"),
            )
        )
        acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=_visibility("loyalty"),
            rules=rules,
        )
        wafv2.CfnWebACLAssociation(
            self,
            "OnLoadBalancer",
            resource_arn=service.load_balancer.load_balancer_arn,
            web_acl_arn=acl.attr_arn,
        )
        # WAF accepts only log groups whose names start with aws-waf-logs-.
        waf_logs = logs.LogGroup(self, "WafLogs", log_group_name=f"aws-waf-logs-{acl.node.addr[:16]}")
        wafv2.CfnLoggingConfiguration(
            self, "WafLogging", resource_arn=acl.attr_arn, log_destination_configs=[waf_logs.log_group_arn]
        )
        return acl


@jsii.implements(apigwv2.IAccessLogSettings)
class _AccessLogs:
    """Where and how the stage writes its access log (the CDK takes an interface, not a struct)."""

    def __init__(self, destination: apigwv2.IAccessLogDestination, format: apigw.AccessLogFormat) -> None:
        self._destination = destination
        self._format = format

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw.AccessLogFormat:
        return self._format


def _visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True
    )
