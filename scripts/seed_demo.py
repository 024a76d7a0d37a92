"""Seeds the local AWS with a demo REST API (orders-api, stage prod) and a usage plan
(orders-standard) serving it, then prints what API Gateway and CloudWatch hold for it.
Next to it, it seeds an HTTP API (API Gateway v2): orders-http, tagged team=payments (the
examples' team), with the routes GET /orders and POST /orders and the stages $default
(autoDeploy) and prod; what it prints is still the REST API's alone.
With --incident BACKEND_URL it instead stages a 504 incident: POST /orders calls BACKEND_URL
over HTTP, with 5XX errors, an IntegrationLatency near the 29 s timeout and "Integration timeout"
in the execution log. With --backend it serves that backend on 127.0.0.1: it reads each request
and never answers, and it prints its URL first.

usage: seed_demo.py ENDPOINT_URL [--show-only | --incident BACKEND_URL] | seed_demo.py --backend
"""

import datetime
import json
import socket
import sys
import threading
import time

import boto3

REGION = "us-east-1"
API, STAGE, PLAN = "orders-api", "prod", "orders-standard"
HTTP_API = "orders-http"
HTTP_API_TAGS = {"team": "payments"}
HTTP_ROUTES = ("GET /orders", "POST /orders")
HTTP_STAGES = {"$default": {"AutoDeploy": True}, "prod": {}}
MANAGED_METHOD_SETTINGS = (
    "loggingLevel",
    "dataTraceEnabled",
    "metricsEnabled",
    "throttlingRateLimit",
    "throttlingBurstLimit",
)


def clients(endpoint):
    kwargs = dict(
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    return boto3.client("apigateway", **kwargs), boto3.client("cloudwatch", **kwargs)


def http_apis(endpoint):
    """The API Gateway v2 client (HTTP and WebSocket APIs)."""
    return boto3.client(
        "apigatewayv2",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def seed(apigw):
    if any(api["name"] == API for api in apigw.get_rest_apis()["items"]):
        return
    api = apigw.create_rest_api(name=API)["id"]
    root = apigw.get_resources(restApiId=api)["items"][0]["id"]
    apigw.put_method(restApiId=api, resourceId=root, httpMethod="GET", authorizationType="NONE")
    apigw.put_integration(restApiId=api, resourceId=root, httpMethod="GET", type="MOCK")
    apigw.create_deployment(restApiId=api, stageName=STAGE)
    apigw.create_usage_plan(name=PLAN, apiStages=[{"apiId": api, "stage": STAGE}])
    apigw.update_account(
        patchOperations=[
            {
                "op": "replace",
                "path": "/cloudwatchRoleArn",
                "value": "arn:aws:iam::123456789012:role/apigw-cloudwatch-logs",
            }
        ]
    )


def seed_http_api(apigwv2):
    """The demo's HTTP API, once: seeding again finds it by name and changes nothing."""
    pages = apigwv2.get_paginator("get_apis").paginate(PaginationConfig={"PageSize": 100})
    if any(api["Name"] == HTTP_API for page in pages for api in page["Items"]):
        return
    api = apigwv2.create_api(Name=HTTP_API, ProtocolType="HTTP", Tags=HTTP_API_TAGS)["ApiId"]
    for key in HTTP_ROUTES:
        apigwv2.create_route(ApiId=api, RouteKey=key)
    for stage, fields in HTTP_STAGES.items():
        apigwv2.create_stage(ApiId=api, StageName=stage, **fields)


def show(apigw, cloudwatch):
    api = next(a for a in apigw.get_rest_apis()["items"] if a["name"] == API)
    stage = apigw.get_stage(restApiId=api["id"], stageName=STAGE)
    plan = next(p for p in apigw.get_usage_plans()["items"] if p["name"] == PLAN)
    alarms = cloudwatch.describe_alarms(AlarmNamePrefix="apigw-guard-")["MetricAlarms"]
    print(
        json.dumps(
            {
                "stage": {
                    "tracingEnabled": stage.get("tracingEnabled"),
                    "methodSettings */*": {
                        key: value
                        for key, value in stage.get("methodSettings", {}).get("*/*", {}).items()
                        if key in MANAGED_METHOD_SETTINGS
                    },
                },
                "usagePlanThrottle": plan.get("throttle"),
                "alarms": [
                    {
                        "name": a["AlarmName"],
                        "metric": a["MetricName"],
                        "dimensions": {d["Name"]: d["Value"] for d in a["Dimensions"]},
                        "statistic": a.get("Statistic") or a.get("ExtendedStatistic"),
                        "threshold": a["Threshold"],
                        "period": a["Period"],
                    }
                    for a in alarms
                ],
            },
            indent=2,
        )
    )


def backend():
    """A backend that hangs: it takes connections, reads the request and never answers."""
    server = socket.create_server(("127.0.0.1", 0))
    print(f"http://127.0.0.1:{server.getsockname()[1]}", flush=True)
    held = []
    while True:
        conn, _ = server.accept()
        held.append(conn)
        threading.Thread(target=conn.recv, args=(65536,), daemon=True).start()


def incident(endpoint, apigw, cloudwatch, backend_url):
    api = next(a for a in apigw.get_rest_apis()["items"] if a["name"] == API)["id"]
    root = apigw.get_resources(restApiId=api)["items"][0]["id"]
    orders = apigw.create_resource(restApiId=api, parentId=root, pathPart="orders")["id"]
    apigw.put_method(restApiId=api, resourceId=orders, httpMethod="POST", authorizationType="NONE")
    apigw.put_integration(
        restApiId=api,
        resourceId=orders,
        httpMethod="POST",
        type="HTTP_PROXY",
        integrationHttpMethod="POST",
        uri=f"{backend_url}/orders",
        timeoutInMillis=29_000,
    )
    # Deploy to the stage as AWS does, keeping its settings: moto's CreateDeployment with a
    # stage name replaces the stage, and with it the guard's method settings.
    deployment = apigw.create_deployment(restApiId=api)["id"]
    apigw.update_stage(
        restApiId=api,
        stageName=STAGE,
        patchOperations=[{"op": "replace", "path": "/deploymentId", "value": deployment}],
    )
    at = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=2)
    dims = [{"Name": "ApiName", "Value": API}, {"Name": "Stage", "Value": STAGE}]
    figures = {
        "Count": [1.0] * 240,
        "5XXError": [18.0],
        "4XXError": [2.0],
        "Latency": [29_000.0] * 20 + [140.0] * 220,
        "IntegrationLatency": [28_950.0] * 20 + [95.0] * 220,
    }
    for metric, values in figures.items():
        data = [{"MetricName": metric, "Dimensions": dims, "Value": v, "Timestamp": at} for v in values]
        cloudwatch.put_metric_data(Namespace="AWS/ApiGateway", MetricData=data)
    logs = boto3.client(
        "logs",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    group = f"API-Gateway-Execution-Logs_{api}/{STAGE}"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="demo")
    now = int(time.time() * 1000) - 120_000
    messages = [
        "(0f5e) Execution failed due to a timeout error",
        "(0f5e) Integration timeout after 29000 ms",
        "(7a21) Execution failed due to a timeout error",
        "(7a21) Integration timeout after 29000 ms",
    ]
    logs.put_log_events(
        logGroupName=group,
        logStreamName="demo",
        logEvents=[{"timestamp": now + i, "message": m} for i, m in enumerate(messages)],
    )


if __name__ == "__main__":
    if sys.argv[1] == "--backend":
        backend()
    apigw, cloudwatch = clients(sys.argv[1])
    if "--incident" in sys.argv:
        incident(sys.argv[1], apigw, cloudwatch, sys.argv[sys.argv.index("--incident") + 1])
        sys.exit(0)
    if "--show-only" not in sys.argv:
        seed(apigw)
        seed_http_api(http_apis(sys.argv[1]))
    show(apigw, cloudwatch)
