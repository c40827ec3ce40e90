"""The CDK app that ``cdk synth`` and ``cdk deploy`` run (cdk.json): see docs/deploy.md.

Only ``loyalty_stack`` is imported here, so its ``__init__`` chooses the Node the jsii runtime
starts before anything imports ``aws_cdk``.
"""

from loyalty_stack.app import build_app

if __name__ == "__main__":
    build_app()[0].synth()
