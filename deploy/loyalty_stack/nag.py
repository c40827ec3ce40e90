"""Acknowledging a cdk-nag finding: always on the narrowest construct, always with the reason."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations
from constructs import IConstruct


def acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    """``rule`` is a rule id (``AwsSolutions-ECS2``) or one finding of it (``AwsSolutions-IAM5[...]``)."""
    Validations.of(construct).acknowledge(Acknowledgment(id=rule, reason=reason))
