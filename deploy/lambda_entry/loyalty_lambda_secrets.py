"""Lambda entry for the email sender: ``LOYALTY_*`` secrets from Secrets Manager, then
``loyalty.lambda_email.handler``.

ECS injects secrets into a container's environment; Lambda cannot, and a value written into the
function's configuration would show to anyone allowed to read it. So the configuration names the
secrets (``LOYALTY_SECRET_ARNS``: a JSON object, variable name to secret ARN) and they are read here,
once per cold start, before the settings are.
"""

from __future__ import annotations

import json
import os

import boto3

from loyalty import lambda_email


def _load_secrets() -> None:
    arns: dict[str, str] = json.loads(os.environ.get("LOYALTY_SECRET_ARNS", "{}"))
    if not arns:
        return
    client = boto3.client("secretsmanager")
    for variable, arn in arns.items():
        os.environ[variable] = client.get_secret_value(SecretId=arn)["SecretString"]


_load_secrets()
handler = lambda_email.handler
