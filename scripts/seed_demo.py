"""Seeds the local AWS with what every example and guide names, then prints what API Gateway
and CloudWatch hold for the demo's REST API (orders-api, stage prod) and its usage plan.

What it seeds, in us-east-1 of the local AWS's own account (123456789012), so that
`apigw-guard plan -f examples/NAME.yaml` finds every API, stage and usage plan it names:
- REST API orders-api (id a1b2c3d4e5, the id examples/full.yaml names it by; tagged
  team=payments, the examples' team) with the stages prod and live-eu, and the usage plan
  orders-standard serving both (guard.yaml, full.yaml, policy.yaml);
- REST APIs search-api (minimal.yaml), refunds-api (safe-deploys.yaml) and payments-api
  (slo-guard.yaml), each with a prod stage;
- HTTP API (API Gateway v2) orders-http, tagged team=payments, with the routes GET /orders and
  POST /orders and the stages $default (autoDeploy) and prod (http-guard.yaml, policy.yaml);
- WebSocket API (API Gateway v2) orders-live, tagged team=payments, with the routes $connect,
  $disconnect, $default and sendMessage and the stage prod (websocket-guard.yaml);
- the account's CloudWatch Logs role, which execution logging needs;
and in account 111122223333 (through the role examples/accounts.yaml names, as the operator
reaches it): REST API orders-api, tagged team=payments, with a prod stage, and that account's
CloudWatch Logs role. Seeding again finds each by name and changes nothing.

With --events-queue it makes what deploy/events/cloudtrail-to-sqs.yaml makes in AWS, on the local
AWS: the queue apigw-guard-events and an EventBridge rule sending CloudTrail-shaped API Gateway
and CloudWatch events to it, and prints the queue's URL (for `apigw-guard run
--events-queue-url`). With --drift it turns tracing off on orders-api/prod by hand and puts that
call's CloudTrail event (tests/fixtures/cloudtrail/update-stage.json) on the bus, as CloudTrail
would: a running operator puts tracing back seconds later.
With --incident BACKEND_URL it instead stages a 504 incident: POST /orders calls BACKEND_URL
over HTTP, with 5XX errors, an IntegrationLatency near the 29 s timeout and "Integration timeout"
in the execution log. With --backend it serves that backend on 127.0.0.1: it reads each request
and never answers, and it prints its URL first.

usage: seed_demo.py ENDPOINT_URL [--show-only | --events-queue | --drift | --incident BACKEND_URL]
       seed_demo.py --backend
"""

import datetime
import json
import socket
import sys
import threading
import time

import pathlib

import boto3

REGION = "us-east-1"
API, STAGE, PLAN = "orders-api", "prod", "orders-standard"
# (name, stages, tags, id or None): the REST APIs the examples name.
REST_APIS = (
    (API, (STAGE, "live-eu"), {"team": "payments"}, "a1b2c3d4e5"),
    ("search-api", (STAGE,), {}, None),
    ("refunds-api", (STAGE,), {}, None),
    ("payments-api", (STAGE,), {}, None),
)
# The local AWS's own account, and the account of examples/accounts.yaml's payments-prod role, and what its guard names there.
OWN_ACCOUNT = "123456789012"
OTHER_ACCOUNT_ROLE = "arn:aws:iam::111122223333:role/apigw-guard"
OTHER_ACCOUNT_APIS = ((API, (STAGE,), {"team": "payments"}, None),)
# moto's way to create a REST API with a given id (a tag it takes the id from).
CUSTOM_ID_TAG = "_custom_id_"
HTTP_API = "orders-http"
HTTP_API_TAGS = {"team": "payments"}
HTTP_ROUTES = ("GET /orders", "POST /orders")
HTTP_STAGES = {"$default": {"AutoDeploy": True}, "prod": {}}
WEBSOCKET_API = "orders-live"
WEBSOCKET_ROUTES = ("$connect", "$disconnect", "$default", "sendMessage")
MANAGED_METHOD_SETTINGS = (
    "loggingLevel",
    "dataTraceEnabled",
    "metricsEnabled",
    "throttlingRateLimit",
    "throttlingBurstLimit",
)


def assumed(sts, role):
    """Credentials of `role`, as the operator assumes it: the local AWS keeps each account's
    resources apart by the assumed role's account."""
    got = sts.assume_role(RoleArn=role, RoleSessionName="seed-demo")["Credentials"]
    return dict(
        aws_access_key_id=got["AccessKeyId"],
        aws_secret_access_key=got["SecretAccessKey"],
        aws_session_token=got["SessionToken"],
    )


def local(endpoint, service, **credentials):
    """A client of the local AWS at `endpoint`, in the demo's region."""
    keys = dict(aws_access_key_id="local", aws_secret_access_key="local")
    keys.update(credentials)
    return boto3.client(service, endpoint_url=endpoint, region_name=REGION, **keys)


def seed_all(client):
    """Everything the examples name; `client(service, **credentials)` makes a client of the
    local AWS in the region to seed."""
    seed(client("apigateway"), OWN_ACCOUNT, REST_APIS, with_plan=True)
    seed_http_api(client("apigatewayv2"))
    seed_websocket_api(client("apigatewayv2"))
    other = client("apigateway", **assumed(client("sts"), OTHER_ACCOUNT_ROLE))
    seed(other, OTHER_ACCOUNT_ROLE.split(":")[4], OTHER_ACCOUNT_APIS, with_plan=False)


def seed(apigw, account, apis, with_plan):
    """Each REST API of `apis` not there yet, with a GET / mock and a deployment per stage; the
    usage plan serving every stage of the first (`with_plan`); the CloudWatch Logs role of
    `account` (its id) in the account's API Gateway settings."""
    existing = {a["name"]: a["id"] for a in apigw.get_rest_apis(limit=500)["items"]}
    for name, stages, tags, custom_id in apis:
        if name in existing:
            continue
        tags = dict(tags, **({CUSTOM_ID_TAG: custom_id} if custom_id else {}))
        api = apigw.create_rest_api(name=name, tags=tags)["id"]
        existing[name] = api
        root = apigw.get_resources(restApiId=api)["items"][0]["id"]
        apigw.put_method(restApiId=api, resourceId=root, httpMethod="GET", authorizationType="NONE")
        apigw.put_integration(restApiId=api, resourceId=root, httpMethod="GET", type="MOCK")
        for stage in stages:
            apigw.create_deployment(restApiId=api, stageName=stage)
    name, stages, _, _ = apis[0]
    plans = apigw.get_usage_plans(limit=500)["items"]
    if with_plan and not any(p["name"] == PLAN for p in plans):
        served = [{"apiId": existing[name], "stage": stage} for stage in stages]
        apigw.create_usage_plan(name=PLAN, apiStages=served)
    role = f"arn:aws:iam::{account}:role/apigw-cloudwatch-logs"
    if apigw.get_account().get("cloudwatchRoleArn") != role:
        apigw.update_account(
            patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": role}]
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


def seed_websocket_api(apigwv2):
    """The demo's WebSocket API, once, as seed_http_api makes the HTTP one."""
    pages = apigwv2.get_paginator("get_apis").paginate(PaginationConfig={"PageSize": 100})
    if any(api["Name"] == WEBSOCKET_API for page in pages for api in page["Items"]):
        return
    api = apigwv2.create_api(
        Name=WEBSOCKET_API,
        ProtocolType="WEBSOCKET",
        RouteSelectionExpression="$request.body.action",
        Tags=HTTP_API_TAGS,
    )["ApiId"]
    for key in WEBSOCKET_ROUTES:
        apigwv2.create_route(ApiId=api, RouteKey=key)
    apigwv2.create_stage(ApiId=api, StageName=STAGE)


def show(apigw, cloudwatch):
    api = next(a for a in apigw.get_rest_apis()["items"] if a["name"] == API)
    stage = apigw.get_stage(restApiId=api["id"], stageName=STAGE)
    plan = next(p for p in apigw.get_usage_plans()["items"] if p["name"] == PLAN)
    alarms = cloudwatch.describe_alarms(AlarmNamePrefix="apigw-guard-")["MetricAlarms"]
    print(
        json.dumps(
            {
                "stage": {
                    # GetStage leaves tracingEnabled out until it is first set: off.
                    "tracingEnabled": stage.get("tracingEnabled", False),
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


def events_queue(endpoint):
    """The queue and rule of deploy/events/cloudtrail-to-sqs.yaml, once; the queue's URL."""
    sqs = local(endpoint, "sqs")
    url = sqs.create_queue(QueueName="apigw-guard-events")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    events = local(endpoint, "events")
    pattern = {
        "source": ["aws.apigateway", "aws.cloudwatch"],
        "detail-type": ["AWS API Call via CloudTrail"],
    }
    events.put_rule(Name="apigw-guard-events", EventPattern=json.dumps(pattern))
    events.put_targets(
        Rule="apigw-guard-events",
        Targets=[{"Id": "queue", "Arn": attributes["Attributes"]["QueueArn"]}],
    )
    return url


def drift(endpoint, apigw):
    """Tracing off on orders-api/prod by hand, and the call's CloudTrail event on the bus."""
    api = next(a for a in apigw.get_rest_apis()["items"] if a["name"] == API)["id"]
    apigw.update_stage(
        restApiId=api,
        stageName=STAGE,
        patchOperations=[{"op": "replace", "path": "/tracingEnabled", "value": "false"}],
    )
    fixture = pathlib.Path(__file__).parent.parent / "tests/fixtures/cloudtrail/update-stage.json"
    event = json.loads(fixture.read_text())
    detail = json.dumps(event["detail"]).replace("a1b2c3d4e5", api)
    local(endpoint, "events").put_events(
        Entries=[
            {"Source": event["source"], "DetailType": event["detail-type"], "Detail": detail}
        ]
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
    logs = local(endpoint, "logs")
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
    endpoint = sys.argv[1]
    apigw, cloudwatch = local(endpoint, "apigateway"), local(endpoint, "cloudwatch")
    if "--events-queue" in sys.argv:
        print(events_queue(endpoint))
        sys.exit(0)
    if "--drift" in sys.argv:
        drift(endpoint, apigw)
        sys.exit(0)
    if "--incident" in sys.argv:
        incident(endpoint, apigw, cloudwatch, sys.argv[sys.argv.index("--incident") + 1])
        sys.exit(0)
    if "--show-only" not in sys.argv:
        seed_all(lambda service, **credentials: local(endpoint, service, **credentials))
    show(apigw, cloudwatch)
