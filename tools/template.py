"""template.yaml, offline, with the pinned tools of .tools/venv (tools/requirements.txt).

    python tools/template.py variant IN OUT Name=Value...   IN with those parameter defaults
    python tools/template.py translate IN [Name=Value...]    IN through SAM's transform, as JSON
    python tools/template.py routes IN                      "route key<TAB>function" lines
    python tools/template.py check-answer EVENT_NAME FILE   is FILE the answer EVENT_NAME promises?

`variant` writes a copy of the template whose parameters default to the given values, so
that cfn-lint and `sam validate --lint` (which take no parameter values) lint each setting
(`make template`). `routes` and `check-answer` serve `make sam-local` (scripts/sam-local.sh).
`translate` runs aws-sam-translator, the transform CloudFormation runs
at deploy time, and prints the CloudFormation template it makes (tests/template.rs checks
the IAM roles there). Neither makes a network call: the transform only asks IAM for the
managed policies a function names, and this template names none (asking fails here).
"""

import json
import os
import sys

import yaml
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


def parameters(args):
    values = {}
    for arg in args:
        name, sep, value = arg.partition("=")
        if not sep:
            sys.exit(f"expected Name=Value, got {arg!r}")
        values[name] = value
    return values


def load(path):
    with open(path, encoding="utf-8") as f:
        return yaml_parse(f.read())


def variant(src, dst, values):
    template = load(src)
    for name, value in values.items():
        if name not in template["Parameters"]:
            sys.exit(f"{src} has no parameter {name}")
        template["Parameters"][name]["Default"] = value
    with open(dst, "w", encoding="utf-8") as f:
        yaml.safe_dump(template, f, sort_keys=False, width=1000)


class NoManagedPolicies:
    """The transform's managed-policy lookup (IAM ListPolicies), refused: offline."""

    def load(self):
        raise SystemExit("the template names a managed policy: the transform would ask IAM for it")


def translate(src, values):
    template = load(src)
    # The transform reads the region (for AWS::Region) from boto3's session: any will do.
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    # What `sam deploy` does first: the code goes to S3 and CodeUri names the object.
    for name, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = f"s3://deployment-bucket/{name}.zip"
    out = transform(template, values, NoManagedPolicies())
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


def routes(src):
    """Each route of the HTTP API and the function its integration invokes."""
    resources = load(src)["Resources"]
    for route in resources.values():
        if route["Type"] != "AWS::ApiGatewayV2::Route":
            continue
        target = route["Properties"]["Target"]["Fn::Sub"]
        integration = resources[target.removeprefix("integrations/${").removesuffix("}")]
        function = integration["Properties"]["IntegrationUri"]["Fn::GetAtt"][0]
        print(f"{route['Properties']['RouteKey']}\t{function}")


def check_answer(name, path):
    """The answer the event's name promises, as tests/http.rs checks it in-process:
    *-unknown-conversation: 404 not_found; front/error-* (events/front/, ACCESS=front):
    403 forbidden; other error-*: 400 invalid_parameter; else 200 with success true.
    Prints the status (and code); exits non-zero otherwise."""
    with open(path, encoding="utf-8") as f:
        text = f.read().strip()
    try:
        # sam local invoke prints the function's answer as the last line of its output.
        answer = json.loads(text.splitlines()[-1])
        status, body = answer["statusCode"], json.loads(answer["body"])
    except (IndexError, KeyError, TypeError, ValueError) as e:
        sys.exit(f"not an API Gateway answer ({e}): {text[:300]!r}")
    if name.startswith("front/error-"):
        expected = (403, "forbidden")
    elif name.endswith("unknown-conversation"):
        expected = (404, "not_found")
    elif name.rpartition("/")[2].startswith("error-"):
        expected = (400, "invalid_parameter")
    else:
        expected = (200, None)
    got = (status, body.get("code"))
    if got != expected or body.get("success") is not (status == 200):
        sys.exit(f"expected {expected[0]} {expected[1] or ''}, got {status} {json.dumps(body)[:300]}")
    print(f"{status} {expected[1] or ''}".strip())


def main(argv):
    if len(argv) >= 3 and argv[0] == "variant":
        variant(argv[1], argv[2], parameters(argv[3:]))
    elif len(argv) >= 2 and argv[0] == "translate":
        translate(argv[1], parameters(argv[2:]))
    elif len(argv) == 2 and argv[0] == "routes":
        routes(argv[1])
    elif len(argv) == 3 and argv[0] == "check-answer":
        check_answer(argv[1], argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
