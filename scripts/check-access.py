#!/usr/bin/env python3
"""The access check of a deploy (.github/workflows/deploy.yml), also run by the tests
(tests/deploy_access.rs) and usable by hand. Python 3.11+, standard library only.

    scripts/check-access.py [--samconfig FILE] [--overrides-file FILE.yaml] ENVIRONMENT
    scripts/check-access.py [--samconfig FILE] --stack-info ENVIRONMENT

Reads the Access parameter of samconfig.toml's [ENVIRONMENT] (deploy.parameters over
global.parameters, as SAM CLI reads them; an environment inherits nothing from [default])
and decides whether that environment may be deployed:

  jwt     yes: every route is behind the JWT authorizer.
  front   yes, when the secrets the front (CloudFront or nginx) and the API share come from
          GitHub secrets, passed as environment variables: FRONT_SECRET (the NoEcho parameter
          FrontSecret), and LEGACY_ORIGIN_SECRET (LegacyOriginSecret) when the environment
          sets LegacyOriginDomain. Never in samconfig.toml: a secret there is refused.
  public  only for the development environment, [default], and for an environment that the
          comma-separated ALLOW_PUBLIC_ENVIRONMENTS (the repository variable of that name)
          names, on purpose: a warning then.
  other   refused, as is no Access at all.

A refusal exits 1 with a GitHub `::error::` line saying what to set. Secret values are
masked (`::add-mask::`) before anything else is printed and are never printed otherwise.

--overrides-file writes the parameter overrides `sam deploy` needs, for
`sam deploy --config-env ENVIRONMENT --parameter-overrides file://FILE.yaml`: on the command
line, --parameter-overrides replaces the environment's parameter_overrides instead of
merging with them (aws/aws-sam-cli#2380; SAM CLI 1.170 still replaces), so the file holds
the environment's parameter_overrides verbatim (SAM parses them as it would from
samconfig.toml) followed by the secrets. A file (mode 0600), not the command line: the
secrets never appear in a process's arguments.

--stack-info prints `stack_name=...` and `region=...` of the environment (empty when
samconfig.toml sets none), for $GITHUB_OUTPUT.
"""

import argparse
import json
import os
import re
import sys
import tomllib
from pathlib import Path

DEVELOPMENT_ENV = "default"
ACCESS_MODES = ("jwt", "front", "public")
ALLOW_PUBLIC_VAR = "ALLOW_PUBLIC_ENVIRONMENTS"

# Template parameter -> the environment variable the workflow fills from the GitHub secret of
# the same name.
FRONT_SECRET = ("FrontSecret", "FRONT_SECRET")
FRONT_SECRET_PREVIOUS = ("FrontSecretPrevious", "FRONT_SECRET_PREVIOUS")
LEGACY_ORIGIN_SECRET = ("LegacyOriginSecret", "LEGACY_ORIGIN_SECRET")
SECRET_PARAMETERS = (FRONT_SECRET, FRONT_SECRET_PREVIOUS, LEGACY_ORIGIN_SECRET)

# SAM CLI's grammar of a parameter_overrides string (samcli/cli/types.py,
# CfnParameterOverridesType): `Key=Value ...`, or `ParameterKey=Key,ParameterValue=Value ...`;
# a value is "double-quoted", 'single-quoted' or bare up to the next space, backslash escapes
# inside.
_KEY = r"""([A-Za-z0-9"']+)"""
_VALUE = r"""("(?:\\.|[^"\\]+)*"|'(?:\\.|[^'\\]+)*'|(?:\\.|[^ "\\]+)+)"""
_LONG_FORM = re.compile(rf"(?:ParameterKey={_KEY},ParameterValue={_VALUE})")
_SHORT_FORM = re.compile(rf"(?: {_KEY}={_VALUE})")


class Refused(Exception):
    """The deploy must not go ahead; the message says why and what to set."""


def unquote(text):
    if len(text) >= 1 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1]
    return text.replace("\\ ", " ").replace('\\"', '"').replace("\\'", "'")


def parse_overrides(value, where):
    """The parameters of a parameter_overrides value (a string, a list of strings, or a
    table), later ones winning, as SAM CLI reads them."""
    items = value if isinstance(value, list) else [value]
    parameters = {}
    for item in items:
        if isinstance(item, dict):
            for key, val in item.items():
                parameters[unquote(str(key))] = unquote(str(val))
        elif isinstance(item, str):
            if item.startswith("file://"):
                raise Refused(
                    f"{where} parameter_overrides refers to a file ({item}): this check reads the "
                    "parameters from samconfig.toml itself; write them there"
                )
            normalized = " " + item.strip()
            if not normalized.strip():
                continue
            for form in (_LONG_FORM, _SHORT_FORM):
                pairs = form.findall(normalized)
                if pairs:
                    parameters.update((unquote(k), unquote(v)) for k, v in pairs)
                    break
            else:
                raise Refused(f"{where} parameter_overrides is not in SAM's Key=Value format: {item!r}")
        else:
            raise Refused(f"{where} parameter_overrides has a {type(item).__name__} where a string belongs")
    return parameters


def environment_settings(samconfig, env, command):
    """The environment's parameters of a SAM CLI command: [env.global.parameters] overlaid
    by [env.<command>.parameters]. Nothing comes from another environment."""
    with open(samconfig, "rb") as f:
        document = tomllib.load(f)
    section = document.get(env)
    if not isinstance(section, dict):
        raise Refused(f"{samconfig} has no environment [{env}]")
    settings = dict(section.get("global", {}).get("parameters", {}))
    settings.update(section.get(command, {}).get("parameters", {}))
    return settings


def mask_secrets():
    """Masks every secret value handed in, line by line, before anything else is printed."""
    for _, variable in SECRET_PARAMETERS:
        for line in os.environ.get(variable, "").splitlines():
            if line.strip():
                print(f"::add-mask::{line}", flush=True)


def secret_from_environment(parameter, variable, env, why):
    value = os.environ.get(variable, "")
    if not value:
        raise Refused(
            f"Access=front in [{env}] {why}, from the GitHub secret {variable} of the environment "
            f"'{env}' (the NoEcho parameter {parameter}); it is empty or not set. Set the secret "
            f"{variable} (e.g. the output of `openssl rand -hex 32`)"
        )
    # A header value the front sends and SAM passes through unchanged: no spaces, quotes,
    # backslashes or control characters. (The value itself is never printed.)
    if any(not ("!" <= c <= "~") or c in "\"'\\" for c in value):
        raise Refused(
            f"the GitHub secret {variable} has characters other than printable ASCII without "
            "spaces, quotes and backslashes; it is sent as an HTTP header value. Generate it "
            "with e.g. `openssl rand -hex 32`"
        )
    return value


def check(samconfig, env, overrides_file):
    settings = environment_settings(samconfig, env, "deploy")
    where = f"{samconfig} [{env}]"
    raw = settings.get("parameter_overrides", "")
    parameters = parse_overrides(raw, where)

    for parameter, variable in SECRET_PARAMETERS:
        if parameter in parameters:
            raise Refused(
                f"{where} sets {parameter} in parameter_overrides: a secret does not belong in the "
                f"repository. Remove it and set the GitHub secret {variable} of the environment "
                f"'{env}'; the deploy passes it"
            )

    access = parameters.get("Access", "")
    secrets = {}
    if access == "jwt":
        print(f"Access=jwt in [{env}]: every route is behind the JWT authorizer.")
    elif access == "front":
        secrets[FRONT_SECRET[0]] = secret_from_environment(
            *FRONT_SECRET, env, "needs the secret header value CloudFront or nginx adds"
        )
        used = [FRONT_SECRET[1]]
        # Always given, empty unless a rotation is under way: SAM reuses the stack's previous
        # value of a parameter it is not given, which would keep an old secret valid for good.
        previous = os.environ.get(FRONT_SECRET_PREVIOUS[1], "")
        secrets[FRONT_SECRET_PREVIOUS[0]] = (
            secret_from_environment(*FRONT_SECRET_PREVIOUS, env, "rotates the front's secret") if previous else ""
        )
        if previous:
            used.append(FRONT_SECRET_PREVIOUS[1])
        if parameters.get("LegacyOriginDomain", ""):
            secrets[LEGACY_ORIGIN_SECRET[0]] = secret_from_environment(
                *LEGACY_ORIGIN_SECRET,
                env,
                "with LegacyOriginDomain set needs the secret header value CloudFront sends to the PHP host",
            )
            used.append(LEGACY_ORIGIN_SECRET[1])
        print(
            f"Access=front in [{env}]: the API answers only requests carrying the front's secret "
            f"header; secrets from the GitHub secrets {', '.join(used)}."
        )
    elif access == "public":
        allowed = {name.strip() for name in os.environ.get(ALLOW_PUBLIC_VAR, "").split(",")}
        if env == DEVELOPMENT_ENV:
            print(f"Access=public in [{env}], the development environment: no sign-in, on purpose.")
        elif env in allowed:
            print(
                f"::warning::Access=public in [{env}], named by the repository variable "
                f"{ALLOW_PUBLIC_VAR}: no sign-in, only the stage throttling bounds the API."
            )
        else:
            raise Refused(
                f"{where} sets Access=public: the API without sign-in, refused for every "
                f"environment but the development one ([{DEVELOPMENT_ENV}]). Set Access=jwt (with "
                "JwtIssuer and JwtAudience) or Access=front (behind CloudFront or nginx, with the "
                f"GitHub secret FRONT_SECRET), or add '{env}' to the repository variable "
                f"{ALLOW_PUBLIC_VAR} (comma-separated environment names) to deploy it public on purpose"
            )
    elif not access:
        raise Refused(
            f"{where} sets no Access in deploy.parameters.parameter_overrides: choose jwt, front "
            f"or public (an environment inherits nothing from [{DEVELOPMENT_ENV}])"
        )
    else:
        raise Refused(f"{where} sets Access={access}: not one of {', '.join(ACCESS_MODES)}")

    if overrides_file is not None:
        write_overrides(overrides_file, raw, secrets)
        names = list(parameters) + [p for p in secrets if p not in parameters]
        print(
            f"Parameter overrides for sam deploy written to {overrides_file}: {' '.join(names)}"
            + (f" (values of {', '.join(secrets)} not shown)" if secrets else "")
            + "."
        )


def write_overrides(path, raw, secrets):
    """A YAML file (JSON, which YAML reads) SAM CLI takes as
    `--parameter-overrides file://PATH`: a list of the environment's parameter_overrides,
    verbatim, then a mapping of the secrets, which win."""
    if path.suffix not in (".yaml", ".yml"):
        raise Refused(f"--overrides-file {path}: SAM CLI reads parameter files by suffix; use .yaml")
    items = list(raw) if isinstance(raw, list) else ([raw] if raw else [])
    if secrets:
        items.append(secrets)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(items, f, indent=1)
        f.write("\n")


def stack_info(samconfig, env):
    settings = environment_settings(samconfig, env, "deploy")
    print(f"stack_name={settings.get('stack_name', '')}")
    print(f"region={settings.get('region', '')}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("environment", help="a samconfig.toml environment (prod, dashboard, default, ...)")
    parser.add_argument(
        "--samconfig",
        type=Path,
        default=Path(__file__).resolve().parent.parent / "samconfig.toml",
        help="the SAM CLI configuration (default: samconfig.toml of this repository)",
    )
    parser.add_argument("--overrides-file", type=Path, help="write sam deploy's parameter overrides here (.yaml)")
    parser.add_argument("--stack-info", action="store_true", help="print stack_name= and region= only")
    args = parser.parse_args()

    mask_secrets()
    try:
        if args.stack_info:
            stack_info(args.samconfig, args.environment)
        else:
            check(args.samconfig, args.environment, args.overrides_file)
    except (Refused, OSError, tomllib.TOMLDecodeError) as e:
        print(f"::error::{e}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
