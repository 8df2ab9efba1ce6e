#!/usr/bin/env python3
"""Transforms a SAM template to plain CloudFormation with samtranslator (no AWS calls, no docker).

Usage: python3 scripts/sam-transform.py [template.yaml] [--parameter-overrides K=V ...]
Prints the transformed template as JSON on stdout; exits 1 with the translator's message on stderr.
"""

import json
import os
import sys

# samtranslator resolves AWS::Region / AWS::Partition from the boto session; offline we only need a region name.
os.environ.setdefault("AWS_DEFAULT_REGION", os.environ.get("AWS_REGION", "us-east-1"))

from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class ManagedPolicyLoader:
    """Offline stand-in for the IAM ListPolicies lookup SAM uses to resolve managed policy *names*."""

    def load(self):
        return {}


def package_local_code(template):
    """What `sam package` does before the transform: local CodeUri paths become S3 locations (placeholders)."""

    def fix(props):
        uri = props.get("CodeUri")
        if isinstance(uri, str) and not uri.startswith("s3://"):
            props["CodeUri"] = "s3://sam-transform-placeholder/" + (uri.strip("./") or "root")

    fix(template.get("Globals", {}).get("Function", {}))
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Serverless::Function":
            fix(resource.setdefault("Properties", {}))


def main(argv):
    path = "template.yaml"
    overrides = {}
    args = iter(argv)
    for arg in args:
        if arg == "--parameter-overrides":
            continue
        if "=" in arg:
            key, value = arg.split("=", 1)
            overrides[key] = value
        else:
            path = arg
    with open(path, encoding="utf-8") as fh:
        template = yaml_parse(fh.read())
    package_local_code(template)
    try:
        result = transform(template, overrides, ManagedPolicyLoader())
    except InvalidDocumentException as err:
        messages = "; ".join(str(cause) for cause in err.causes)
        print(f"SAM transform failed: {messages}", file=sys.stderr)
        return 1
    json.dump(result, sys.stdout, indent=2, sort_keys=False, default=str)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
