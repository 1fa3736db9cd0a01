"""Validates an ECS task definition offline, against botocore's own model of
the ECS RegisterTaskDefinition API (the shapes, types, enums and required
members the AWS CLI itself checks before sending), then checks what s3gate
needs of it: the keyring as a secret, awslogs in blocking mode (so a slow log
pipe slows requests instead of losing audit lines), the health check on
/_s3gate/healthz through `s3gate probe`, and a stopTimeout longer than the
configured drain.

Usage: python deploy/validate_task_definition.py deploy/ecs-task-definition.json
Exit status 0 when valid; 1 with one line per problem otherwise.
"""

import json
import sys
import tomllib

import botocore.session
from botocore.validate import ParamValidator


def duration_seconds(text):
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = text.strip()
    if text and text[-1] in units:
        return int(text[:-1]) * units[text[-1]]
    return int(text)


def problems_of(task):
    model = botocore.session.get_session().get_service_model("ecs")
    shape = model.operation_model("RegisterTaskDefinition").input_shape
    report = ParamValidator().validate(task, shape)
    if report.has_errors():
        yield report.generate_report()
        return

    containers = {c["name"]: c for c in task["containerDefinitions"]}
    c = containers.get("s3gate")
    if c is None:
        yield "no container named s3gate"
        return
    env = {e["name"]: e["value"] for e in c.get("environment", [])}
    secrets = {s["name"] for s in c.get("secrets", [])}

    config_ref = env.get("S3GATE_CONFIG", "")
    if not config_ref.startswith("env:"):
        yield "S3GATE_CONFIG should be env:NAME with the config in that variable"
        return
    config = tomllib.loads(env[config_ref[4:]])
    keyring = config["session"]["keyring"]
    if not keyring.startswith("env:") or keyring[4:] not in secrets:
        yield f"session.keyring ({keyring}) should name a variable from `secrets`"
    policy = config.get("policy", {}).get("file", "")
    if not policy.startswith("/"):
        yield "[policy] file must be an absolute path in the image (s3gate does not start without a policy)"
    if not config.get("listen", "").startswith("0.0.0.0:"):
        yield "listen should be 0.0.0.0:<port> inside a container"

    drain = duration_seconds(config.get("server", {}).get("drain_timeout", "25s"))
    stop = c.get("stopTimeout", 30)
    if stop <= drain:
        yield f"stopTimeout ({stop}s) must exceed server.drain_timeout ({drain}s)"

    logs = c.get("logConfiguration", {})
    if logs.get("logDriver") != "awslogs":
        yield "logs should go to CloudWatch through the awslogs driver"
    if logs.get("options", {}).get("mode", "blocking") != "blocking":
        yield "awslogs mode must be blocking: non-blocking drops audit lines"

    check = " ".join(c.get("healthCheck", {}).get("command", []))
    if "s3gate probe" not in check.replace("/usr/local/bin/", "") or "/_s3gate/healthz" not in check:
        yield "healthCheck should run `s3gate probe .../_s3gate/healthz`"
    if c.get("user") in (None, "0", "root"):
        yield "the container should run as a non-root user"


def main(path):
    with open(path) as f:
        task = json.load(f)
    problems = list(problems_of(task))
    for p in problems:
        print(f"{path}: {p}", file=sys.stderr)
    if not problems:
        print(f"{path}: valid RegisterTaskDefinition input")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
