"""The activity log's DynamoDB table, built from the package's own definition.

``loyalty.datasources.log_dynamo.table_definition()`` is what ``loyalty create-log-table`` sends to
CreateTable; translating that same dictionary here means the deployed keys, sparse indexes and
projection cannot drift from what the store's reads expect (tests/test_deploy.py compares the two).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from loyalty.datasources.log_dynamo import TTL_ATTRIBUTE, table_definition

_TYPES = {
    "S": dynamodb.AttributeType.STRING,
    "N": dynamodb.AttributeType.NUMBER,
    "B": dynamodb.AttributeType.BINARY,
}
_PROJECTIONS = {
    "ALL": dynamodb.ProjectionType.ALL,
    "KEYS_ONLY": dynamodb.ProjectionType.KEYS_ONLY,
    "INCLUDE": dynamodb.ProjectionType.INCLUDE,
}
_BILLING = {
    "PAY_PER_REQUEST": dynamodb.BillingMode.PAY_PER_REQUEST,
    "PROVISIONED": dynamodb.BillingMode.PROVISIONED,
}


def _keys(key_schema: list[dict[str, str]], types: dict[str, str]) -> dict[str, dynamodb.Attribute]:
    """``partition_key``/``sort_key`` arguments from a CreateTable KeySchema."""
    roles = {"HASH": "partition_key", "RANGE": "sort_key"}
    return {
        roles[key["KeyType"]]: dynamodb.Attribute(
            name=key["AttributeName"], type=_TYPES[types[key["AttributeName"]]]
        )
        for key in key_schema
    }


class LogTable(Construct):
    def __init__(self, scope: Construct, id: str, *, table_name: str) -> None:
        super().__init__(scope, id)
        definition: dict[str, Any] = table_definition()
        types = {item["AttributeName"]: item["AttributeType"] for item in definition["AttributeDefinitions"]}
        self.table = dynamodb.Table(
            self,
            "Table",
            table_name=table_name,
            billing_mode=_BILLING[definition["BillingMode"]],
            time_to_live_attribute=TTL_ATTRIBUTE,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
            **_keys(definition["KeySchema"], types),
        )
        self.index_arns: list[str] = []
        for index in definition.get("GlobalSecondaryIndexes", []):
            self.index_arns.append(f"{self.table.table_arn}/index/{index['IndexName']}")
            projection = index["Projection"]
            self.table.add_global_secondary_index(
                index_name=index["IndexName"],
                projection_type=_PROJECTIONS[projection["ProjectionType"]],
                non_key_attributes=projection.get("NonKeyAttributes"),
                **_keys(index["KeySchema"], types),
            )
