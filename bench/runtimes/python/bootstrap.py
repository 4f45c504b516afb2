"""The Python side of the init comparison: the minimal Lambda function a Python user would
write for this job — the boto3 DynamoDB client constructed at init — with a plain Runtime
API loop (what a custom runtime does). Init ends at its first request for an event."""

import json
import os
import urllib.request

import boto3

client = boto3.client("dynamodb")
api = os.environ["AWS_LAMBDA_RUNTIME_API"]

while True:
    with urllib.request.urlopen(f"http://{api}/2018-06-01/runtime/invocation/next") as res:
        request_id = res.headers["Lambda-Runtime-Aws-Request-Id"]
        res.read()
    body = json.dumps({"statusCode": 200, "body": client.meta.service_model.service_name}).encode()
    urllib.request.urlopen(
        urllib.request.Request(
            f"http://{api}/2018-06-01/runtime/invocation/{request_id}/response", data=body, method="POST"
        )
    ).read()
