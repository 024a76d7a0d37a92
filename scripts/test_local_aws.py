"""Tests of the local AWS's CBOR bridge and of what it adds to moto: most driven in-process
through WSGI (no sockets), those of LocalAwsServer's subclasses through boto3 against the local
AWS served on a free 127.0.0.1 port.

Run: cd scripts && ../.venv/bin/python -m unittest -v test_local_aws
"""

import contextlib
import datetime
import gzip
import io
import json
import threading
import unittest
import uuid
from urllib.parse import quote

import boto3
import botocore.config
import botocore.session
import cbor2
from botocore.exceptions import ClientError
from botocore.model import ShapeResolver
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server
from werkzeug.test import Client

import seed_demo
from local_aws import CborBridge, ServiceModels, to_cbor, to_json

PREFIX = "GraniteServiceVersion20100801"
# moto picks the backend from the SigV4 credential scope's service name ("monitoring").
AUTH = (
    "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/monitoring/aws4_request, "
    "SignedHeaders=host, Signature=x"
)
UTC = datetime.timezone.utc
APIGW_AUTH = AUTH.replace("/monitoring/", "/apigateway/")


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def cbor_call(client, operation, payload, gzipped=False, service=PREFIX):
    body = b"" if payload is None else cbor2.dumps(payload)
    headers = {
        "Authorization": AUTH,
        "smithy-protocol": "rpc-v2-cbor",
        "Content-Type": "application/cbor",
        "Accept": "application/cbor",
    }
    if gzipped:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    return client.post(f"/service/{service}/operation/{operation}", data=body, headers=headers)


def tag_follows_key(data, key, tag):
    """Whether the CBOR text string `key` is immediately followed by semantic tag `tag` (< 24)."""
    return cbor2.dumps(key) + bytes([0xC0 | tag]) in data


class BridgeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.models = ServiceModels()
        cls.client = Client(CborBridge(DomainDispatcherApplication(create_backend_app), cls.models))

    def assertCborResponse(self, response):
        self.assertEqual(response.headers["Content-Type"], "application/cbor")
        self.assertEqual(response.headers["smithy-protocol"], "rpc-v2-cbor")
        self.assertEqual(int(response.headers["Content-Length"]), len(response.data))
        return cbor2.loads(response.data)

    def assertCborError(self, response, status, code):
        self.assertEqual(response.status_code, status, response.data)
        body = self.assertCborResponse(response)
        with self.assertRaises(ValueError):  # CBOR, not the JSON moto answered
            json.loads(response.data)
        self.assertLessEqual(set(body), {"__type", "message"})
        # RPC v2 CBOR clients take the code after any "namespace#".
        self.assertEqual(body["__type"].rsplit("#", 1)[-1], code)
        return body

    def put_alarm(self, name):
        return cbor_call(
            self.client,
            "PutMetricAlarm",
            {
                "AlarmName": name,
                "Namespace": "AWS/ApiGateway",
                "MetricName": "Latency",
                "ExtendedStatistic": "p99",
                "Dimensions": [
                    {"Name": "ApiName", "Value": "orders"},
                    {"Name": "Stage", "Value": "prod"},
                ],
                "Period": 300,
                "EvaluationPeriods": 2,
                "Threshold": 1000.5,
                "ComparisonOperator": "GreaterThanThreshold",
                "TreatMissingData": "notBreaching",
                "Tags": [{"Key": "apigw-guard.dev/owner", "Value": "ns/g"}],
            },
        )

    def test_put_then_describe_round_trips_in_cbor(self):
        name = unique("bridge-roundtrip")
        before = datetime.datetime.now(UTC) - datetime.timedelta(seconds=5)
        put = self.put_alarm(name)
        self.assertEqual(put.status_code, 200, put.data)
        self.assertEqual(self.assertCborResponse(put), {})

        described = cbor_call(self.client, "DescribeAlarms", {"AlarmNames": [name]})
        self.assertEqual(described.status_code, 200, described.data)
        body = self.assertCborResponse(described)
        self.assertEqual(body["CompositeAlarms"], [])
        alarms = body["MetricAlarms"]
        self.assertEqual(len(alarms), 1)
        alarm = alarms[0]
        self.assertEqual(alarm["AlarmName"], name)
        self.assertTrue(alarm["AlarmArn"].endswith(f":alarm:{name}"), alarm["AlarmArn"])
        self.assertEqual(alarm["Namespace"], "AWS/ApiGateway")
        self.assertEqual(alarm["MetricName"], "Latency")
        self.assertEqual(alarm["ExtendedStatistic"], "p99")
        self.assertNotIn("Statistic", alarm)
        self.assertEqual(alarm["ComparisonOperator"], "GreaterThanThreshold")
        self.assertEqual(alarm["TreatMissingData"], "notBreaching")
        self.assertEqual(
            sorted((d["Name"], d["Value"]) for d in alarm["Dimensions"]),
            [("ApiName", "orders"), ("Stage", "prod")],
        )
        self.assertIsInstance(alarm["Threshold"], float)
        self.assertEqual(alarm["Threshold"], 1000.5)
        self.assertIs(type(alarm["Period"]), int)
        self.assertEqual(alarm["Period"], 300)
        self.assertIs(type(alarm["EvaluationPeriods"]), int)
        self.assertEqual(alarm["EvaluationPeriods"], 2)
        self.assertIs(alarm["ActionsEnabled"], True)

        # Timestamps travel as CBOR tag 1 (epoch seconds), which cbor2 decodes to aware datetimes;
        # not as tag 0 (RFC 3339 text) and not as bare numbers or strings.
        for key in ("StateUpdatedTimestamp", "AlarmConfigurationUpdatedTimestamp"):
            with self.subTest(timestamp=key):
                value = alarm[key]
                self.assertIsInstance(value, datetime.datetime)
                self.assertIsNotNone(value.tzinfo)
                self.assertEqual(value.utcoffset(), datetime.timedelta(0))
                self.assertGreaterEqual(value, before)
                self.assertLessEqual(value, datetime.datetime.now(UTC) + datetime.timedelta(seconds=5))
                self.assertTrue(tag_follows_key(described.data, key, 1), described.data.hex())
                self.assertFalse(tag_follows_key(described.data, key, 0))

        tags = cbor_call(self.client, "ListTagsForResource", {"ResourceARN": alarm["AlarmArn"]})
        self.assertEqual(tags.status_code, 200, tags.data)
        self.assertEqual(
            self.assertCborResponse(tags)["Tags"],
            [{"Key": "apigw-guard.dev/owner", "Value": "ns/g"}],
        )

    def test_other_alarms_are_not_described(self):
        mine, other = unique("bridge-mine"), unique("bridge-other")
        for name in (mine, other):
            self.assertEqual(self.put_alarm(name).status_code, 200)
        described = cbor_call(self.client, "DescribeAlarms", {"AlarmNames": [mine]})
        names = [a["AlarmName"] for a in self.assertCborResponse(described)["MetricAlarms"]]
        self.assertEqual(names, [mine])

    def test_describe_alarms_is_paged_like_aws(self):
        prefix = unique("bridge-paged")
        names = sorted(f"{prefix}-{i:03}" for i in range(7))
        for name in names:
            self.assertEqual(self.put_alarm(name).status_code, 200)
        seen, token, pages = [], None, 0
        while True:
            request = {"AlarmNamePrefix": prefix, "MaxRecords": 3}
            if token:
                request["NextToken"] = token
            body = self.assertCborResponse(cbor_call(self.client, "DescribeAlarms", request))
            pages += 1
            seen += [a["AlarmName"] for a in body["MetricAlarms"]]
            token = body.get("NextToken")
            if not token:
                break
        self.assertEqual((pages, seen), (3, names))
        # Without MaxRecords AWS pages at 100 (its largest page), never all at once.
        body = self.assertCborResponse(cbor_call(self.client, "DescribeAlarms", {"AlarmNamePrefix": prefix}))
        self.assertEqual(len(body["MetricAlarms"]), 7)
        self.assertNotIn("NextToken", body)
        # More than 100 a page is refused, as the model's range says.
        response = cbor_call(self.client, "DescribeAlarms", {"AlarmNamePrefix": prefix, "MaxRecords": 500})
        body = self.assertCborError(response, 400, "ValidationError")
        self.assertIn("at 'maxRecords' failed to satisfy constraint: Member must have value less than or equal to 100", body["message"])

    def test_metric_data_answers_percentiles(self):
        now = datetime.datetime.now(UTC).replace(microsecond=0)
        api = unique("bridge-metrics")
        dims = [{"Name": "ApiName", "Value": api}, {"Name": "Stage", "Value": "prod"}]
        data = [
            {"MetricName": "Latency", "Dimensions": dims, "Value": float(v), "Timestamp": now}
            for v in range(1, 101)
        ]
        put = cbor_call(self.client, "PutMetricData", {"Namespace": "AWS/ApiGateway", "MetricData": data})
        self.assertEqual(put.status_code, 200, put.data)
        stat = lambda s: {
            "Metric": {"Namespace": "AWS/ApiGateway", "MetricName": "Latency", "Dimensions": dims},
            "Period": 300,
            "Stat": s,
        }
        got = cbor_call(
            self.client,
            "GetMetricData",
            {
                "MetricDataQueries": [
                    {"Id": "p99", "MetricStat": stat("p99")},
                    {"Id": "p50", "MetricStat": stat("p50")},
                    {"Id": "total", "MetricStat": stat("Sum")},
                ],
                "StartTime": now - datetime.timedelta(minutes=5),
                "EndTime": now + datetime.timedelta(minutes=1),
            },
        )
        self.assertEqual(got.status_code, 200, got.data)
        values = {r["Id"]: r["Values"] for r in self.assertCborResponse(got)["MetricDataResults"]}
        self.assertEqual(values, {"p99": [99.0], "p50": [50.0], "total": [5050.0]})

    def test_empty_request_body_is_an_empty_input(self):
        response = cbor_call(self.client, "DescribeAlarms", None)
        self.assertEqual(response.status_code, 200, response.data)
        body = self.assertCborResponse(response)
        self.assertIsInstance(body["MetricAlarms"], list)

    def test_resource_not_found_is_a_cbor_error(self):
        response = cbor_call(
            self.client,
            "TagResource",
            {
                "ResourceARN": f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{unique('missing')}",
                "Tags": [{"Key": "k", "Value": "v"}],
            },
        )
        self.assertCborError(response, 404, "ResourceNotFoundException")
        # The awsQueryCompatible error header moto sets survives the bridge.
        self.assertEqual(
            response.headers.get("x-amzn-query-error"), "ResourceNotFoundException;Sender"
        )

    def test_validation_error_is_a_cbor_error_with_its_message(self):
        now = datetime.datetime.now(UTC)
        response = cbor_call(
            self.client,
            "GetMetricStatistics",
            {
                "Namespace": "Bridge/Test",
                "MetricName": "Nothing",
                "StartTime": now - datetime.timedelta(hours=1),
                "EndTime": now,
                "Period": 60,
            },
        )
        body = self.assertCborError(response, 400, "InvalidParameterCombinationException")
        self.assertIn("Statistics", body["message"])

    def test_query_protocol_passes_through(self):
        response = self.client.post(
            "/",
            data="Action=ListMetrics&Version=2010-08-01",
            headers={"Authorization": AUTH, "Content-Type": "application/x-www-form-urlencoded"},
        )
        self.assertEqual(response.status_code, 200)
        self.assertNotIn("smithy-protocol", response.headers)
        self.assertNotEqual(response.headers.get("Content-Type"), "application/cbor")
        self.assertIn(b"ListMetricsResponse", response.data)

    def test_json_protocol_passes_through(self):
        response = self.client.post(
            "/",
            data=json.dumps({"AlarmNames": [unique("bridge-none")]}),
            headers={
                "Authorization": AUTH,
                "Content-Type": "application/x-amz-json-1.0",
                "X-Amz-Target": f"{PREFIX}.DescribeAlarms",
            },
        )
        self.assertEqual(response.status_code, 200, response.data)
        self.assertNotIn("smithy-protocol", response.headers)
        self.assertEqual(json.loads(response.data)["MetricAlarms"], [])

    def test_rpc_v2_path_without_the_protocol_header_passes_through(self):
        response = self.client.post(
            f"/service/{PREFIX}/operation/DescribeAlarms",
            data=cbor2.dumps({}),
            headers={"Authorization": AUTH, "Content-Type": "application/cbor"},
        )
        # moto itself has no such route: its own 404, not the bridge's CBOR.
        self.assertEqual(response.status_code, 404)
        self.assertNotIn("smithy-protocol", response.headers)
        self.assertNotEqual(response.headers.get("Content-Type"), "application/cbor")
        self.assertIn(b"Not Found", response.data)

    def test_unknown_operation_is_404(self):
        response = cbor_call(self.client, "NoSuchOperation", {})
        self.assertEqual(response.status_code, 404)
        self.assertEqual(self.assertCborResponse(response), {"__type": "UnknownOperationException"})

    def test_unknown_service_is_404(self):
        response = cbor_call(self.client, "DescribeAlarms", {}, service="NoSuchService")
        self.assertEqual(response.status_code, 404)
        self.assertEqual(self.assertCborResponse(response)["__type"], "UnknownOperationException")

    def test_gzipped_request_bodies_are_read(self):
        namespace = unique("Bridge/Gzip")
        now = datetime.datetime.now(UTC).replace(microsecond=0)
        dimensions = [{"Name": "Stage", "Value": "prod"}]
        response = cbor_call(
            self.client,
            "PutMetricData",
            {
                "Namespace": namespace,
                "MetricData": [
                    {
                        "MetricName": "Hits",
                        "Dimensions": dimensions,
                        "Value": 3.0,
                        "Unit": "Count",
                        "Timestamp": now - datetime.timedelta(minutes=2),
                    }
                ],
            },
            gzipped=True,
        )
        self.assertEqual(response.status_code, 200, response.data)
        self.assertEqual(self.assertCborResponse(response), {})

        listed = cbor_call(self.client, "ListMetrics", {"Namespace": namespace})
        metrics = self.assertCborResponse(listed)["Metrics"]
        self.assertEqual([m["MetricName"] for m in metrics], ["Hits"])
        self.assertEqual(metrics[0]["Dimensions"], dimensions)

        # The datum's timestamp went to moto as epoch seconds and comes back as tag 1.
        stats = cbor_call(
            self.client,
            "GetMetricStatistics",
            {
                "Namespace": namespace,
                "MetricName": "Hits",
                "Dimensions": dimensions,
                "StartTime": now - datetime.timedelta(hours=1),
                "EndTime": now + datetime.timedelta(minutes=1),
                "Period": 60,
                "Statistics": ["Sum"],
            },
        )
        self.assertEqual(stats.status_code, 200, stats.data)
        points = self.assertCborResponse(stats)["Datapoints"]
        self.assertEqual(len(points), 1)
        self.assertEqual(points[0]["Sum"], 3.0)
        self.assertIsInstance(points[0]["Timestamp"], datetime.datetime)
        self.assertIsNotNone(points[0]["Timestamp"].tzinfo)
        self.assertTrue(tag_follows_key(stats.data, "Timestamp", 1))


def rest_json(client, method, path, body=None, auth=APIGW_AUTH):
    """An API Gateway v2 (restJson1) call; the bridge passes it to moto untouched."""
    response = client.open(
        path,
        method=method,
        data=None if body is None else json.dumps(body),
        headers={"Authorization": auth, "Content-Type": "application/json"},
    )
    return response, (json.loads(response.data) if response.data.strip() else None)


class V2Stages:
    """Helpers of the API Gateway v2 stage tests, in the region `AUTH` signs for."""

    AUTH = APIGW_AUTH
    ARN = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/apigw-guard/orders"
    FORMAT = '{"requestId":"$context.requestId","status":"$context.status"}'

    @classmethod
    def setUpClass(cls):
        cls.client = Client(CborBridge(DomainDispatcherApplication(create_backend_app)))

    def call(self, method, path, body=None):
        return rest_json(self.client, method, path, body, auth=self.AUTH)

    def api(self, protocol="HTTP", routes=("GET /pets",)):
        _, api = self.call("POST", "/v2/apis", {"name": unique("api"), "protocolType": protocol})
        for key in routes:
            created, _ = self.call("POST", f"/v2/apis/{api['apiId']}/routes", {"routeKey": key})
            self.assertEqual(created.status_code, 201, created.data)  # CreateRoute's, as AWS
        return api["apiId"]

    def stage(self, protocol="HTTP", routes=("GET /pets",), **fields):
        api = self.api(protocol, routes)
        created, _ = self.call("POST", f"/v2/apis/{api}/stages", {"stageName": "$default", **fields})
        self.assertEqual(created.status_code, 201, created.data)  # CreateStage's, as AWS
        return f"/v2/apis/{api}/stages/%24default"

    def update(self, path, body, status=200):
        response, answer = self.call("PATCH", path, body)
        self.assertEqual(response.status_code, status, response.data)
        return answer

    def get(self, path):
        response, answer = self.call("GET", path)
        self.assertEqual(response.status_code, 200, response.data)
        return answer

    def set_log_role(self):
        """The account's CloudWatch Logs role in the region (API Gateway's UpdateAccount)."""
        op = {"op": "replace", "path": "/cloudwatchRoleArn", "value": "arn:aws:iam::123456789012:role/logs"}
        response, _ = self.call("PATCH", "/account", {"patchOperations": [op]})
        self.assertEqual(response.status_code, 200, response.data)

    def assertRefused(self, path, body, status, error, message):
        before = self.get(path)
        answer = self.update(path, body, status)
        self.assertEqual(answer["__type"], error)
        self.assertIn(message, answer["message"])
        self.assertEqual(self.get(path), before)  # nothing changed


class WebSocketStageTest(V2Stages, unittest.TestCase):
    """A WebSocket API's stage: execution logging and throttles in its route settings by route
    key, and its logging refused until the account has a CloudWatch Logs role, as AWS refuses
    it. In eu-west-2, whose account settings no other test changes."""

    AUTH = APIGW_AUTH.replace("/us-east-1/", "/eu-west-2/")

    def test_logging_needs_the_account_log_role_then_route_settings_merge_by_route_key(self):
        routes = ("$connect", "$disconnect", "$default", "sendMessage")
        path = self.stage("WEBSOCKET", routes=routes)
        message = "CloudWatch Logs role ARN must be set in account settings to enable logging"
        for body in (
            {"defaultRouteSettings": {"loggingLevel": "ERROR"}},
            {"defaultRouteSettings": {"dataTraceEnabled": True}},
            {"routeSettings": {"$connect": {"loggingLevel": "INFO"}}},
            {"accessLogSettings": {"destinationArn": self.ARN, "format": self.FORMAT}},
        ):
            with self.subTest(body=body):
                self.assertRefused(path, body, 400, "BadRequestException", message)
        # Logging off, and throttles, need no role.
        self.update(path, {"defaultRouteSettings": {"loggingLevel": "OFF", "throttlingRateLimit": 9.0}})
        self.set_log_role()
        self.update(path, {"defaultRouteSettings": {"loggingLevel": "INFO", "dataTraceEnabled": False}})
        answer = self.update(
            path,
            {"routeSettings": {"$connect": {"throttlingBurstLimit": 2}, "sendMessage": {"throttlingRateLimit": 5.0}}},
        )
        self.assertEqual(
            answer["defaultRouteSettings"],
            {"loggingLevel": "INFO", "dataTraceEnabled": False, "detailedMetricsEnabled": False, "throttlingRateLimit": 9.0},
        )
        self.assertEqual(
            answer["routeSettings"],
            {"$connect": {"throttlingBurstLimit": 2}, "sendMessage": {"throttlingRateLimit": 5.0}},
        )
        listed = self.get(path.rsplit("/", 1)[0])["items"][0]
        self.assertEqual(listed["routeSettings"], answer["routeSettings"])
        self.assertRefused(
            path,
            {"routeSettings": {"sendMesage": {"throttlingBurstLimit": 1}}},
            404,
            "NotFoundException",
            "Unable to find Route by key sendMesage",
        )


class HttpApiStageTest(V2Stages, unittest.TestCase):
    """API Gateway v2 UpdateStage, DeleteRouteSettings and DeleteAccessLogSettings."""

    def deployment(self, path):
        """A deployment of the stage's API (to no stage), by id."""
        created, made = self.call("POST", path.split("/stages/")[0] + "/deployments", {})
        self.assertEqual(created.status_code, 201, created.data)
        return made["deploymentId"]

    def test_update_changes_only_the_fields_given_and_answers_the_stage(self):
        path = self.stage(description="before", stageVariables={"a": "1"})
        deployment = self.deployment(path)
        answer = self.update(
            path,
            {
                "accessLogSettings": {"destinationArn": self.ARN, "format": self.FORMAT},
                "defaultRouteSettings": {
                    "throttlingRateLimit": 100.5,
                    "throttlingBurstLimit": 50,
                    "detailedMetricsEnabled": True,
                },
                "routeSettings": {"GET /pets": {"throttlingRateLimit": 5.0, "throttlingBurstLimit": 2}},
                "stageVariables": {"b": "2"},
                "autoDeploy": False,
                "deploymentId": deployment,
                "clientCertificateId": "cert1",
            },
        )
        self.assertEqual(answer, self.get(path))
        self.assertEqual(answer["stageName"], "$default")
        self.assertEqual(answer["description"], "before")  # not named: kept
        self.assertEqual(answer["accessLogSettings"], {"destinationArn": self.ARN, "format": self.FORMAT})
        self.assertEqual(
            answer["defaultRouteSettings"],
            {"detailedMetricsEnabled": True, "throttlingRateLimit": 100.5, "throttlingBurstLimit": 50},
        )
        self.assertEqual(answer["routeSettings"], {"GET /pets": {"throttlingRateLimit": 5.0, "throttlingBurstLimit": 2}})
        self.assertEqual(answer["stageVariables"], {"a": "1", "b": "2"})
        self.assertEqual(
            (answer["autoDeploy"], answer["deploymentId"], answer["clientCertificateId"]),
            (False, deployment, "cert1"),
        )

        # A second, partial update: only the rate limit and the description change.
        answer = self.update(path, {"defaultRouteSettings": {"throttlingRateLimit": 7.0}, "description": "after"})
        self.assertEqual(
            answer["defaultRouteSettings"],
            {"detailedMetricsEnabled": True, "throttlingRateLimit": 7.0, "throttlingBurstLimit": 50},
        )
        self.assertEqual(answer["description"], "after")
        self.assertEqual(answer["accessLogSettings"]["destinationArn"], self.ARN)
        self.assertEqual(answer["routeSettings"]["GET /pets"]["throttlingBurstLimit"], 2)
        stages = self.get(path.rsplit("/", 1)[0])["items"]
        self.assertEqual([s["description"] for s in stages], ["after"])
        self.assertEqual(stages[0]["defaultRouteSettings"]["throttlingRateLimit"], 7.0)

    def test_route_settings_merge_by_route_key_and_delete_route_settings_removes_one(self):
        path = self.stage(routes=("GET /pets", "POST /pets/{id}"))
        self.update(path, {"routeSettings": {"GET /pets": {"throttlingRateLimit": 5.0, "throttlingBurstLimit": 2}}})
        answer = self.update(
            path,
            {"routeSettings": {"POST /pets/{id}": {"throttlingBurstLimit": 1}, "GET /pets": {"throttlingBurstLimit": 3}}},
        )
        self.assertEqual(
            answer["routeSettings"],
            {
                "GET /pets": {"throttlingRateLimit": 5.0, "throttlingBurstLimit": 3},
                "POST /pets/{id}": {"throttlingBurstLimit": 1},
            },
        )
        # DELETE .../routesettings/{routeKey}, the key percent-encoded (its slashes too).
        deleted, _ = rest_json(self.client, "DELETE", f"{path}/routesettings/{quote('POST /pets/{id}', safe='')}")
        self.assertEqual(deleted.status_code, 204, deleted.data)
        self.assertEqual(list(self.get(path)["routeSettings"]), ["GET /pets"])
        again, answer = rest_json(self.client, "DELETE", f"{path}/routesettings/{quote('POST /pets/{id}', safe='')}")
        self.assertEqual((again.status_code, answer["__type"]), (404, "NotFoundException"))

    def test_access_logs_stay_until_delete_access_log_settings(self):
        path = self.stage()
        self.update(path, {"accessLogSettings": {"destinationArn": self.ARN + ":*", "format": self.FORMAT}})
        self.update(path, {"description": "no access log settings named"})
        self.assertEqual(self.get(path)["accessLogSettings"]["destinationArn"], self.ARN + ":*")
        deleted, _ = rest_json(self.client, "DELETE", f"{path}/accesslogsettings")
        self.assertEqual(deleted.status_code, 204, deleted.data)
        self.assertNotIn("accessLogSettings", self.get(path))

    def test_execution_logging_is_refused_on_http_api_stages(self):
        path = self.stage()
        message = "Execution logs are not supported on protocolType HTTP"
        for body in (
            {"defaultRouteSettings": {"loggingLevel": "INFO"}},
            {"defaultRouteSettings": {"throttlingRateLimit": 1.0, "loggingLevel": "OFF"}},
            {"defaultRouteSettings": {"dataTraceEnabled": False}},
            {"routeSettings": {"GET /pets": {"loggingLevel": "ERROR"}}},
            {"routeSettings": {"GET /pets": {"dataTraceEnabled": True}}},
        ):
            with self.subTest(body=body):
                self.assertRefused(path, body, 400, "BadRequestException", message)
        # WebSocket APIs have execution logs (through the account's CloudWatch Logs role).
        self.set_log_role()
        websocket = self.stage("WEBSOCKET", routes=("$connect",))
        answer = self.update(websocket, {"defaultRouteSettings": {"loggingLevel": "INFO", "dataTraceEnabled": True}})
        self.assertEqual(answer["defaultRouteSettings"]["loggingLevel"], "INFO")

    def test_access_log_settings_are_checked(self):
        path = self.stage()
        for settings, message in (
            ({"destinationArn": self.ARN, "format": '{"status":"$context.status"}'}, "$context.requestId"),
            ({"destinationArn": self.ARN, "format": "$context.requestIdX $context.status"}, "$context.requestId"),
            ({"destinationArn": self.ARN}, "$context.requestId"),
            ({"destinationArn": "orders-log-group", "format": self.FORMAT}, "log group ARN"),
            ({"format": self.FORMAT}, "log group ARN"),
        ):
            with self.subTest(settings=settings):
                self.assertRefused(path, {"accessLogSettings": settings}, 400, "BadRequestException", message)

    def test_route_settings_must_name_a_route(self):
        path = self.stage()
        self.assertRefused(
            path,
            {"description": "x", "routeSettings": {"GET /pets": {"throttlingBurstLimit": 1}, "GET /cats": {"throttlingBurstLimit": 1}}},
            404,
            "NotFoundException",
            "Unable to find Route by key GET /cats within the provided RouteSettings",
        )

    def test_deployment_id_is_refused_while_auto_deploy_is_on(self):
        path = self.stage(autoDeploy=True)
        deployment = self.deployment(path)
        self.assertRefused(path, {"deploymentId": deployment}, 400, "BadRequestException", "autoDeploy")
        answer = self.update(path, {"deploymentId": deployment, "autoDeploy": False})
        self.assertEqual((answer["deploymentId"], answer["autoDeploy"]), (deployment, False))

    def test_deployments_are_made_read_and_served_and_a_missing_one_refused(self):
        path = self.stage(routes=("GET /pets",))
        api = path.split("/stages/")[0]
        before = self.get(path)
        created, made = self.call("POST", f"{api}/deployments", {"stageName": "$default", "description": "v1"})
        self.assertEqual(created.status_code, 201, created.data)
        self.assertEqual(
            (made["deploymentStatus"], made["autoDeployed"], made["description"]), ("DEPLOYED", False, "v1")
        )
        self.assertEqual(self.get(f"{api}/deployments/{made['deploymentId']}"), made)
        stage = self.get(path)
        self.assertEqual(stage["deploymentId"], made["deploymentId"])
        self.assertGreaterEqual(stage["lastUpdatedDate"], before["lastUpdatedDate"])
        other = self.deployment(path)  # to no stage: the stage keeps serving the first
        self.assertEqual(self.get(path)["deploymentId"], made["deploymentId"])
        listed = [d["deploymentId"] for d in self.get(f"{api}/deployments")["items"]]
        self.assertEqual(listed, [made["deploymentId"], other])
        self.assertEqual(self.update(path, {"deploymentId": other})["deploymentId"], other)
        self.assertRefused(path, {"deploymentId": "nope12"}, 404, "NotFoundException", "Invalid Deployment")
        missing, answer = self.call("GET", f"{api}/deployments/nope12")
        self.assertEqual((missing.status_code, answer["__type"]), (404, "NotFoundException"))
        refused, _ = self.call("POST", f"{api}/deployments", {"stageName": "nope"})
        self.assertEqual(refused.status_code, 404)
        self.assertEqual(len(self.get(f"{api}/deployments")["items"]), 2)  # nothing made

    def test_missing_api_or_stage_is_not_found(self):
        api = self.api()
        for path in (f"/v2/apis/{api}/stages/nope", "/v2/apis/nope1234/stages/%24default"):
            with self.subTest(path=path):
                answer = self.update(path, {"description": "x"}, 404)
                self.assertEqual(answer["__type"], "NotFoundException")


class CompositeAlarmTest(unittest.TestCase):
    """CloudWatch PutCompositeAlarm, and composite alarms in DescribeAlarms and DeleteAlarms."""

    @classmethod
    def setUpClass(cls):
        cls.client = Client(CborBridge(DomainDispatcherApplication(create_backend_app)))

    def call(self, operation, payload, status=200):
        response = cbor_call(self.client, operation, payload)
        self.assertEqual(response.status_code, status, response.data)
        return response, cbor2.loads(response.data)

    def metric_alarm(self, name):
        self.call(
            "PutMetricAlarm",
            {
                "AlarmName": name,
                "Namespace": "AWS/ApiGateway",
                "MetricName": "5XXError",
                "Statistic": "Average",
                "Period": 300,
                "EvaluationPeriods": 1,
                "Threshold": 0.0144,
                "ComparisonOperator": "GreaterThanThreshold",
            },
        )
        return name

    def composite(self, name, rule, **fields):
        return self.call("PutCompositeAlarm", {"AlarmName": name, "AlarmRule": rule, **fields})

    def describe(self, **request):
        return self.call("DescribeAlarms", request)[1]

    def assertValidationError(self, response, body, message):
        self.assertEqual(body["__type"].rsplit("#", 1)[-1], "ValidationException")
        # The query error code the SDKs read (awsQueryCompatible), as AWS sends it.
        self.assertEqual(response.headers.get("x-amzn-query-error"), "ValidationError;Sender")
        self.assertIn(message, body["message"])

    def tier(self):
        prefix = unique("slo")
        long, short = self.metric_alarm(f"{prefix}-long"), self.metric_alarm(f"{prefix}-short")
        return prefix, long, short

    def test_put_composite_alarm_then_describe_it_by_type(self):
        prefix, long, short = self.tier()
        page = self.metric_alarm(f"{prefix}-page")
        topic = "arn:aws:sns:us-east-1:123456789012:pager"
        before = datetime.datetime.now(UTC) - datetime.timedelta(seconds=5)
        self.composite(
            f"{prefix}-ticket",
            f'ALARM("{long}") AND ALARM(arn:aws:cloudwatch:us-east-1:123456789012:alarm:{short})',
            AlarmDescription="1x burn over 3 days",
            AlarmActions=[topic],
            OKActions=[topic],
            ActionsSuppressor=page,
            ActionsSuppressorWaitPeriod=120,
            ActionsSuppressorExtensionPeriod=300,
            Tags=[{"Key": "apigw-guard.dev/owner", "Value": "ns/g"}],
        )
        body = self.describe(AlarmNamePrefix=prefix, AlarmTypes=["CompositeAlarm"])
        self.assertEqual(body["MetricAlarms"], [])
        [alarm] = body["CompositeAlarms"]
        self.assertEqual(alarm["AlarmName"], f"{prefix}-ticket")
        self.assertTrue(alarm["AlarmArn"].endswith(f":alarm:{prefix}-ticket"))
        self.assertIn(f'ALARM("{long}")', alarm["AlarmRule"])
        self.assertEqual(alarm["AlarmDescription"], "1x burn over 3 days")
        self.assertEqual((alarm["AlarmActions"], alarm["OKActions"]), ([topic], [topic]))
        self.assertIs(alarm["ActionsEnabled"], True)
        self.assertEqual(
            (alarm["ActionsSuppressor"], alarm["ActionsSuppressorWaitPeriod"], alarm["ActionsSuppressorExtensionPeriod"]),
            (page, 120, 300),
        )
        self.assertEqual(alarm["StateValue"], "INSUFFICIENT_DATA")  # a new composite alarm's state
        self.assertIsInstance(alarm["StateUpdatedTimestamp"], datetime.datetime)
        self.assertGreaterEqual(alarm["AlarmConfigurationUpdatedTimestamp"], before)

        # Without AlarmTypes only metric alarms come back; with both, both.
        body = self.describe(AlarmNamePrefix=prefix)
        self.assertEqual(body["CompositeAlarms"], [])
        self.assertEqual(len(body["MetricAlarms"]), 3)
        body = self.describe(AlarmNames=[f"{prefix}-ticket", long], AlarmTypes=["MetricAlarm", "CompositeAlarm"])
        self.assertEqual(
            ([a["AlarmName"] for a in body["MetricAlarms"]], [a["AlarmName"] for a in body["CompositeAlarms"]]),
            ([long], [f"{prefix}-ticket"]),
        )

        # Tags: given at creation, then TagResource and ListTagsForResource on its ARN.
        arn = alarm["AlarmArn"]
        self.call("TagResource", {"ResourceARN": arn, "Tags": [{"Key": "tier", "Value": "ticket"}]})
        _, tags = self.call("ListTagsForResource", {"ResourceARN": arn})
        self.assertEqual(
            sorted((t["Key"], t["Value"]) for t in tags["Tags"]),
            [("apigw-guard.dev/owner", "ns/g"), ("tier", "ticket")],
        )

    def test_an_update_overwrites_the_configuration_but_not_the_state_or_tags(self):
        prefix, long, short = self.tier()
        name = f"{prefix}-page"
        tags = [{"Key": "apigw-guard.dev/owner", "Value": "ns/g"}]
        self.composite(name, f"ALARM({long}) AND ALARM({short})", AlarmActions=["arn:aws:sns:us-east-1:123456789012:a"], Tags=tags)
        self.call("SetAlarmState", {"AlarmName": name, "StateValue": "ALARM", "StateReason": "by hand"})
        self.composite(name, f"ALARM({long})", Tags=[{"Key": "ignored", "Value": "on update"}])
        [alarm] = self.describe(AlarmNames=[name], AlarmTypes=["CompositeAlarm"])["CompositeAlarms"]
        self.assertEqual(alarm["AlarmRule"], f"ALARM({long})")
        self.assertEqual(alarm["AlarmActions"], [])  # not given again: gone
        self.assertEqual((alarm["StateValue"], alarm["StateReason"]), ("ALARM", "by hand"))
        _, listed = self.call("ListTagsForResource", {"ResourceARN": alarm["AlarmArn"]})
        self.assertEqual(listed["Tags"], tags)

    def test_a_rule_or_suppressor_naming_a_missing_alarm_is_refused(self):
        prefix, long, _ = self.tier()
        missing = f"{prefix}-missing"
        for fields, message in (
            ({"AlarmRule": f"ALARM({long}) OR OK(\"{missing}\")"}, f"alarms ['{missing}'] in the alarm rule do not exist"),
            (
                {"AlarmRule": f"ALARM({long})", "ActionsSuppressor": missing,
                 "ActionsSuppressorWaitPeriod": 60, "ActionsSuppressorExtensionPeriod": 60},
                f"ActionsSuppressor {missing} does not exist",
            ),
            ({"AlarmRule": f"ALARM({long})", "ActionsSuppressor": long}, "ActionsSuppressorWaitPeriod"),
        ):
            with self.subTest(fields=fields):
                response, body = self.call("PutCompositeAlarm", {"AlarmName": f"{prefix}-c", **fields}, 400)
                self.assertValidationError(response, body, message)
        self.assertEqual(self.describe(AlarmNames=[f"{prefix}-c"], AlarmTypes=["CompositeAlarm"])["CompositeAlarms"], [])

    def test_delete_refuses_alarms_a_composite_alarm_depends_on(self):
        prefix, long, short = self.tier()
        composite = f"{prefix}-page"
        self.composite(composite, f"ALARM({long}) AND ALARM({short})")

        response, body = self.call("DeleteAlarms", {"AlarmNames": [long, short]}, 400)
        self.assertValidationError(
            response, body, f"Cannot delete {long},{short} as there are composite alarm(s) depending on them."
        )
        both = ["MetricAlarm", "CompositeAlarm"]
        self.assertEqual(len(self.describe(AlarmNamePrefix=prefix)["MetricAlarms"]), 2)  # none deleted

        # The composite alarm first (or in the same call), then what it named.
        self.call("DeleteAlarms", {"AlarmNames": [composite, long]})
        self.call("DeleteAlarms", {"AlarmNames": [short]})
        body = self.describe(AlarmNamePrefix=prefix, AlarmTypes=both)
        self.assertEqual((body["MetricAlarms"], body["CompositeAlarms"]), ([], []))

    def test_delete_takes_at_most_one_composite_alarm_per_call(self):
        prefix, long, short = self.tier()
        for tier in ("page", "ticket"):
            self.composite(f"{prefix}-{tier}", f"ALARM({long}) AND ALARM({short})")
        response, body = self.call("DeleteAlarms", {"AlarmNames": [f"{prefix}-page", f"{prefix}-ticket"]}, 400)
        self.assertValidationError(response, body, "one composite alarm")
        for tier in ("page", "ticket"):
            self.call("DeleteAlarms", {"AlarmNames": [f"{prefix}-{tier}"]})
        self.call("DeleteAlarms", {"AlarmNames": [long, short]})
        self.assertEqual(self.describe(AlarmNamePrefix=prefix, AlarmTypes=["MetricAlarm", "CompositeAlarm"])["MetricAlarms"], [])

    def test_parents_and_children_of_an_alarm(self):
        prefix, long, short = self.tier()
        self.composite(f"{prefix}-page", f"ALARM({long}) AND ALARM({short})")
        self.composite(f"{prefix}-top", f'ALARM("{prefix}-page")')
        parents = self.describe(ParentsOfAlarmName=long)
        self.assertEqual([a["AlarmName"] for a in parents["CompositeAlarms"]], [f"{prefix}-page"])
        children = self.describe(ChildrenOfAlarmName=f"{prefix}-page")
        self.assertEqual(sorted(a["AlarmName"] for a in children["MetricAlarms"]), sorted([long, short]))
        children = self.describe(ChildrenOfAlarmName=f"{prefix}-top")
        self.assertEqual([a["AlarmName"] for a in children["CompositeAlarms"]], [f"{prefix}-page"])
        response, body = self.call("DescribeAlarms", {"ParentsOfAlarmName": long, "AlarmNamePrefix": prefix}, 400)
        self.assertValidationError(response, body, "cannot be combined")

    def test_describe_alarms_pages_both_kinds_together(self):
        prefix, long, short = self.tier()
        for tier in ("a", "b", "c"):
            self.composite(f"{prefix}-{tier}", f"ALARM({long})")
        seen, token = [], None
        while True:
            request = {"AlarmNamePrefix": prefix, "AlarmTypes": ["MetricAlarm", "CompositeAlarm"], "MaxRecords": 2}
            if token:
                request["NextToken"] = token
            body = self.describe(**request)
            self.assertLessEqual(len(body["MetricAlarms"]) + len(body["CompositeAlarms"]), 2)
            seen += [a["AlarmName"] for a in body["MetricAlarms"] + body["CompositeAlarms"]]
            token = body.get("NextToken")
            if not token:
                break
        self.assertEqual(sorted(seen), sorted([long, short] + [f"{prefix}-{t}" for t in "abc"]))

    def test_query_protocol_puts_composite_alarms_too(self):
        prefix, long, _ = self.tier()
        response = self.client.post(
            "/",
            data=f"Action=PutCompositeAlarm&Version=2010-08-01&AlarmName={prefix}-q&AlarmRule=ALARM%28{long}%29",
            headers={"Authorization": AUTH, "Content-Type": "application/x-www-form-urlencoded"},
        )
        self.assertEqual(response.status_code, 200, response.data)
        [alarm] = self.describe(AlarmNames=[f"{prefix}-q"], AlarmTypes=["CompositeAlarm"])["CompositeAlarms"]
        self.assertEqual(alarm["AlarmRule"], f"ALARM({long})")


class LocalAwsServer(unittest.TestCase):
    """Starts the local AWS (the bridge in front of moto, as local_aws.main serves it) on a free
    127.0.0.1 port for boto3, so the calls travel as the SDKs send them: API Gateway v2 as
    restJson1, CloudWatch Logs as JSON 1.1, CloudWatch as RPC v2 CBOR."""

    REGION = "us-east-1"

    @classmethod
    def setUpClass(cls):
        class Quiet(MotoRequestHandler):
            def log_request(self, *args, **kwargs):
                pass

        app = CborBridge(DomainDispatcherApplication(create_backend_app))
        cls.server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=Quiet)
        cls.thread = threading.Thread(target=cls.server.serve_forever, daemon=True)
        cls.thread.start()
        cls.endpoint = f"http://127.0.0.1:{cls.server.server_port}"

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.server.server_close()
        cls.thread.join(timeout=5)

    def client(self, service, region=None):
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=region or self.REGION,
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )

    def assertClientError(self, code, call, *args, **kwargs):
        with self.assertRaises(ClientError) as raised:
            call(*args, **kwargs)
        self.assertEqual(raised.exception.response["Error"]["Code"], code, raised.exception.response)
        return raised.exception.response


def raw_bodies(client):
    """The JSON bodies a client receives, by operation name (the last one of each)."""
    bodies = {}

    def keep(http_response, model, **_):
        bodies[model.name] = json.loads(http_response.content) if http_response.content.strip() else None

    client.meta.events.register("after-call", keep)
    return bodies


def api_arn(api_id, region="us-east-1"):
    return f"arn:aws:apigateway:{region}::/apis/{api_id}"


class ConformanceTest(LocalAwsServer):
    """The local AWS refuses what AWS refuses (scripts/conformance.py): each rule once, with
    boto3's own checks off so the request reaches the server as a careless client sends it."""

    def strict(self, service):
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=self.REGION,
            aws_access_key_id="local",
            aws_secret_access_key="local",
            config=botocore.config.Config(parameter_validation=False, retries={"max_attempts": 1}),
        )

    def alarm(self, **overrides):
        fields = {
            "AlarmName": unique("conformance"),
            "Namespace": "AWS/ApiGateway",
            "MetricName": "5XXError",
            "Statistic": "Sum",
            "Dimensions": [{"Name": "ApiName", "Value": "orders-api"}, {"Name": "Stage", "Value": "prod"}],
            "Period": 300,
            "EvaluationPeriods": 1,
            "Threshold": 10.0,
            "ComparisonOperator": "GreaterThanThreshold",
        }
        fields.update(overrides)
        return fields

    def refused(self, code, call, **fields):
        response = self.assertClientError(code, call, **fields)
        self.assertEqual(response["ResponseMetadata"]["HTTPStatusCode"], 400)
        return response["Error"]["Message"]

    def test_a_description_over_1024_characters_is_refused(self):
        cw = self.strict("cloudwatch")
        message = self.refused("ValidationError", cw.put_metric_alarm, **self.alarm(AlarmDescription="d" * 1025))
        self.assertIn(
            "at 'alarmDescription' failed to satisfy constraint: Member must have length less than or equal to 1024",
            message,
        )
        cw.put_metric_alarm(**self.alarm(AlarmDescription="d" * 1024))

    def test_dimension_values_are_ascii_with_a_non_blank_character(self):
        cw = self.strict("cloudwatch")
        for value in ("zahlungs-api-grün", "支付接口", "   "):
            with self.subTest(value=value):
                dimensions = [{"Name": "ApiName", "Value": value}, {"Name": "Stage", "Value": "prod"}]
                message = self.refused("ValidationError", cw.put_metric_alarm, **self.alarm(Dimensions=dimensions))
                self.assertIn("dimensions.1.member.value", message)
                self.assertIn("only ASCII characters", message)
        now = datetime.datetime.now(UTC)
        query = {
            "Id": "m",
            "MetricStat": {
                "Metric": {"Namespace": "AWS/ApiGateway", "MetricName": "Count", "Dimensions": [{"Name": "ApiName", "Value": "grün"}]},
                "Period": 60,
                "Stat": "Sum",
            },
        }
        self.refused(
            "ValidationError",
            cw.get_metric_data,
            MetricDataQueries=[query],
            StartTime=now - datetime.timedelta(hours=1),
            EndTime=now,
        )

    def test_periods_and_evaluation_windows_are_what_cloudwatch_takes(self):
        cw = self.strict("cloudwatch")
        for period, evaluations, taken in (
            (20, 1, True),
            (45, 1, False),
            (60, 1440, True),
            (60, 1441, False),
            (1800, 49, False),
            (3600, 168, True),
            (3600, 169, False),
        ):
            with self.subTest(period=period, evaluations=evaluations):
                fields = self.alarm(Period=period, EvaluationPeriods=evaluations)
                if taken:
                    cw.put_metric_alarm(**fields)
                else:
                    self.refused("ValidationError", cw.put_metric_alarm, **fields)
        message = self.refused(
            "ValidationError", cw.put_metric_alarm, **self.alarm(EvaluationPeriods=2, DatapointsToAlarm=3)
        )
        self.assertIn("DatapointsToAlarm (3) must be at most EvaluationPeriods (2)", message)

    def test_a_composite_rule_over_10240_characters_and_a_missing_member_are_refused(self):
        cw = self.strict("cloudwatch")
        rule = " OR ".join(f'ALARM("{unique("child")}")' for _ in range(400))
        self.assertGreater(len(rule), 10240)
        message = self.refused("ValidationError", cw.put_composite_alarm, AlarmName=unique("composite"), AlarmRule=rule)
        self.assertIn("at 'alarmRule'", message)
        message = self.refused("ValidationError", cw.put_composite_alarm, AlarmName=unique("composite"))
        self.assertIn("Value null at 'alarmRule' failed to satisfy constraint: Member must not be null", message)

    def test_dashboard_names_are_alphanumerics_dashes_and_underscores(self):
        cw = self.strict("cloudwatch")
        body = json.dumps({"widgets": []})
        message = self.refused("ValidationError", cw.put_dashboard, DashboardName="orders prod", DashboardBody=body)
        self.assertIn("at 'dashboardName'", message)
        cw.put_dashboard(DashboardName=unique("apigw-guard-ns_name"), DashboardBody=body)

    def test_get_metric_data_answers_nothing_for_a_period_too_fine_for_the_start_time(self):
        cw = self.client("cloudwatch")
        api = unique("old-api")
        dimensions = [{"Name": "ApiName", "Value": api}, {"Name": "Stage", "Value": "prod"}]
        now = datetime.datetime.now(UTC)
        then = now - datetime.timedelta(days=20)
        cw.put_metric_data(
            Namespace="AWS/ApiGateway",
            MetricData=[{"MetricName": "Count", "Dimensions": dimensions, "Timestamp": then, "Value": 7.0}],
        )

        def values(period):
            query = {
                "Id": "m",
                "MetricStat": {
                    "Metric": {"Namespace": "AWS/ApiGateway", "MetricName": "Count", "Dimensions": dimensions},
                    "Period": period,
                    "Stat": "Sum",
                },
            }
            out = cw.get_metric_data(
                MetricDataQueries=[query], StartTime=then - datetime.timedelta(hours=1), EndTime=now
            )
            return out["MetricDataResults"][0]["Values"]

        # 20 days back: per minute is not kept, per 5 minutes is.
        self.assertEqual(values(60), [])
        self.assertEqual(sum(values(300)), 7.0)

    def test_log_group_names_follow_the_model(self):
        logs = self.strict("logs")
        message = self.refused("ValidationException", logs.create_log_group, logGroupName="orders prod")
        self.assertIn("at 'logGroupName' failed to satisfy constraint: Member must satisfy regular expression pattern", message)
        message = self.refused("ValidationException", logs.create_log_group, logGroupName="x" * 513)
        self.assertIn("Member must have length less than or equal to 512", message)

    def test_api_gateway_requests_follow_the_model(self):
        v2 = self.strict("apigatewayv2")
        message = self.refused("BadRequestException", v2.create_api, Name=unique("api"), ProtocolType="GRPC")
        self.assertIn("at 'protocolType' failed to satisfy constraint: Member must satisfy enum value set", message)
        rest = self.strict("apigateway")
        api = rest.create_rest_api(name=unique("conformance-api"))["id"]
        message = self.refused(
            "BadRequestException",
            rest.update_rest_api,
            restApiId=api,
            patchOperations=[{"op": "frobnicate", "path": "/description", "value": "x"}],
        )
        self.assertIn("at 'patchOperations.1.member.op'", message)

    def test_a_usage_plan_rate_is_a_double(self):
        rest = self.client("apigateway")
        plan = rest.create_usage_plan(name=unique("conformance-plan"))["id"]
        ops = [
            {"op": "replace", "path": "/throttle/rateLimit", "value": "123.5"},
            {"op": "replace", "path": "/throttle/burstLimit", "value": "200"},
        ]
        updated = rest.update_usage_plan(usagePlanId=plan, patchOperations=ops)
        self.assertEqual(updated["throttle"], {"rateLimit": 123.5, "burstLimit": 200})
        self.assertEqual(rest.get_usage_plan(usagePlanId=plan)["throttle"]["rateLimit"], 123.5)


class MetricMathAlarmTest(LocalAwsServer):
    """Metric-math alarms (PutMetricAlarm with Metrics) and composite alarms over them, through
    boto3 (RPC v2 CBOR), as issue 26's SLO burn-rate tiers will make them."""

    DIMS = [{"Name": "ApiName", "Value": "orders"}, {"Name": "Stage", "Value": "prod"}]
    TOPIC = "arn:aws:sns:us-east-1:123456789012:pager"

    def setUp(self):
        self.cw = self.client("cloudwatch")

    def stat(self, query_id, metric_name):
        return {
            "Id": query_id,
            "MetricStat": {
                "Metric": {"Namespace": "AWS/ApiGateway", "MetricName": metric_name, "Dimensions": self.DIMS},
                "Period": 300,
                "Stat": "Sum",
            },
            "ReturnData": False,
        }

    def metrics(self):
        return [
            self.stat("m1", "5XXError"),
            self.stat("m2", "Count"),
            {"Id": "e1", "Expression": "IF(m2 >= 20, m1 / m2, 0)", "Label": "error rate", "ReturnData": True},
        ]

    def math_alarm(self, name, metrics=None, **fields):
        return self.cw.put_metric_alarm(
            AlarmName=name,
            Metrics=self.metrics() if metrics is None else metrics,
            EvaluationPeriods=1,
            Threshold=0.0144,
            ComparisonOperator="GreaterThanThreshold",
            **fields,
        )

    def described(self, name, kind="MetricAlarm"):
        body = self.cw.describe_alarms(AlarmNames=[name], AlarmTypes=[kind])
        return body["MetricAlarms" if kind == "MetricAlarm" else "CompositeAlarms"]

    def test_a_metric_math_alarm_is_described_with_its_metrics_as_given(self):
        name = unique("slo-long")
        self.math_alarm(name, AlarmActions=[self.TOPIC])
        [alarm] = self.described(name)
        self.assertEqual(alarm["Metrics"], self.metrics())
        for absent in ("MetricName", "Namespace", "Statistic", "Period"):
            self.assertNotIn(absent, alarm)
        self.assertEqual((alarm["Threshold"], alarm["AlarmActions"]), (0.0144, [self.TOPIC]))

    def test_metrics_are_refused_as_aws_refuses_them(self):
        name = unique("slo-bad")
        many = [self.stat(f"m{i}", "Count") for i in range(10)] + [self.metrics()[2]]
        omitted = [{k: v for k, v in m.items() if k != "ReturnData"} for m in self.metrics()]
        two = self.metrics()
        two[0]["ReturnData"] = True
        none = self.metrics()
        none[2]["ReturnData"] = False
        for label, metrics, fields, message in (
            ("eleven metrics", many, {}, "greater than 10"),
            ("with MetricName", None, {"MetricName": "5XXError"}, "cannot be combined with MetricName"),
            ("with Namespace", None, {"Namespace": "AWS/ApiGateway"}, "cannot be combined with Namespace"),
            ("with Statistic", None, {"Statistic": "Sum"}, "cannot be combined with Statistic"),
            ("no ReturnData true", none, {}, "Exactly one element of the metrics list should return data."),
            ("two ReturnData true", two, {}, "Exactly one element"),
            ("ReturnData omitted (true)", omitted, {}, "Exactly one element"),
        ):
            with self.subTest(label):
                response = self.assertClientError("ValidationError", self.math_alarm, name, metrics, **fields)
                self.assertIn(message, response["Error"]["Message"])
        self.assertEqual(self.described(name), [])  # nothing stored
        self.math_alarm(name, metrics=[self.stat("m1", "Count") | {"ReturnData": True}])  # one metric, no math
        self.assertEqual(len(self.described(name)), 1)

    def test_a_burn_rate_tier_composite_alarm_with_a_suppressor_state_and_tags(self):
        prefix = unique("slo")
        long, short, page = f"{prefix}-long", f"{prefix}-short", f"{prefix}-page"
        for name in (long, short, page):
            self.math_alarm(name)
        tier = f"{prefix}-ticket"
        self.cw.put_composite_alarm(
            AlarmName=tier,
            AlarmRule=f'ALARM("{long}") AND ALARM("{short}")',
            AlarmActions=[self.TOPIC],
            ActionsSuppressor=page,
            ActionsSuppressorWaitPeriod=120,
            ActionsSuppressorExtensionPeriod=300,
            Tags=[{"Key": "apigw-guard.dev/owner", "Value": "ns/g"}],
        )
        [alarm] = self.described(tier, "CompositeAlarm")
        self.assertEqual(
            (alarm["ActionsSuppressor"], alarm["ActionsSuppressorWaitPeriod"], alarm["ActionsSuppressorExtensionPeriod"]),
            (page, 120, 300),
        )
        self.assertEqual(alarm["StateValue"], "INSUFFICIENT_DATA")

        # AWS requires both periods with a suppressor.
        for missing in ("ActionsSuppressorWaitPeriod", "ActionsSuppressorExtensionPeriod"):
            with self.subTest(missing=missing):
                fields = {"ActionsSuppressorWaitPeriod": 120, "ActionsSuppressorExtensionPeriod": 300}
                del fields[missing]
                response = self.assertClientError(
                    "ValidationError", self.cw.put_composite_alarm,
                    AlarmName=f"{prefix}-other", AlarmRule=f"ALARM({long})", ActionsSuppressor=page, **fields,
                )
                self.assertIn(missing, response["Error"]["Message"])

        # SetAlarmState by hand on a metric-math alarm and on the composite alarm.
        for name, kind in ((long, "MetricAlarm"), (tier, "CompositeAlarm")):
            with self.subTest(name=name):
                self.cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="set by hand")
                [alarm] = self.described(name, kind)
                self.assertEqual((alarm["StateValue"], alarm["StateReason"]), ("ALARM", "set by hand"))
        self.cw.set_alarm_state(AlarmName=tier, StateValue="OK", StateReason="back")
        self.assertEqual(self.described(tier, "CompositeAlarm")[0]["StateValue"], "OK")
        self.assertEqual(self.described(long)[0]["StateValue"], "ALARM")  # the child is left as it was

        # Tags on the composite alarm's ARN.
        arn = alarm["AlarmArn"]
        self.assertTrue(arn.endswith(f":alarm:{tier}"))
        self.cw.tag_resource(ResourceARN=arn, Tags=[{"Key": "tier", "Value": "ticket"}])
        self.cw.untag_resource(ResourceARN=arn, TagKeys=["apigw-guard.dev/owner"])
        self.assertEqual(self.cw.list_tags_for_resource(ResourceARN=arn)["Tags"], [{"Key": "tier", "Value": "ticket"}])


class HttpApiTest(LocalAwsServer):
    """API Gateway v2 (HTTP and WebSocket APIs) through boto3, as the operator calls it."""

    ACCESS_LOG_ARN = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/apigw-guard/orders-http"
    FORMAT = '{"requestId":"$context.requestId","status":"$context.status"}'

    def setUp(self):
        self.v2 = self.client("apigatewayv2")

    def http_api(self, routes=("GET /orders",), stages=("prod",), **fields):
        api = self.v2.create_api(Name=unique("orders-http"), ProtocolType="HTTP", **fields)["ApiId"]
        for key in routes:
            self.v2.create_route(ApiId=api, RouteKey=key)
        for stage in stages:
            self.v2.create_stage(ApiId=api, StageName=stage)
        return api

    def test_get_apis_pages_with_max_results_and_next_token(self):
        region = "eu-west-3"  # no other test makes APIs here, so the listing is exactly these
        v2 = self.client("apigatewayv2", region)
        made = []
        for i in range(5):
            protocol = "WEBSOCKET" if i == 2 else "HTTP"
            extra = {"RouteSelectionExpression": "$request.body.action"} if protocol == "WEBSOCKET" else {}
            answer = v2.create_api(Name=f"paged-{i}", ProtocolType=protocol, Tags={"i": str(i)}, **extra)
            made.append((answer["ApiId"], f"paged-{i}", protocol, {"i": str(i)}))
        pages, seen, token = 0, [], None
        while True:
            answer = v2.get_apis(MaxResults="2", **({"NextToken": token} if token else {}))
            pages += 1
            self.assertLessEqual(len(answer["Items"]), 2)
            seen += [(a["ApiId"], a["Name"], a["ProtocolType"], a["Tags"]) for a in answer["Items"]]
            token = answer.get("NextToken")
            if not token:
                break
        self.assertEqual((pages, seen), (3, made))
        # Without MaxResults (AWS documents no default page size): all at once, no NextToken.
        answer = v2.get_apis()
        self.assertEqual([a["ApiId"] for a in answer["Items"]], [m[0] for m in made])
        self.assertNotIn("NextToken", answer)
        # botocore's paginator (MaxResults/NextToken, as the model names them) agrees.
        paged = v2.get_paginator("get_apis").paginate(PaginationConfig={"PageSize": 4})
        self.assertEqual([len(p["Items"]) for p in paged], [4, 1])
        for bad in ({"MaxResults": "0"}, {"MaxResults": "many"}, {"NextToken": "not-a-token"}, {"NextToken": "99"}):
            with self.subTest(request=bad):
                self.assertClientError("BadRequestException", v2.get_apis, **bad)

    def test_a_websocket_api_is_told_apart_by_protocol_type(self):
        http = self.v2.create_api(Name=unique("http"), ProtocolType="HTTP")["ApiId"]
        websocket = self.v2.create_api(
            Name=unique("ws"), ProtocolType="WEBSOCKET", RouteSelectionExpression="$request.body.action"
        )["ApiId"]
        bodies = raw_bodies(self.v2)
        got = {api: self.v2.get_api(ApiId=api) for api in (http, websocket)}
        self.assertEqual((got[http]["ProtocolType"], got[websocket]["ProtocolType"]), ("HTTP", "WEBSOCKET"))
        self.assertTrue(got[http]["ApiEndpoint"].startswith("https://"))
        self.assertTrue(got[websocket]["ApiEndpoint"].startswith("wss://"))
        self.assertEqual(got[websocket]["RouteSelectionExpression"], "$request.body.action")
        self.assertEqual(got[http]["IpAddressType"], "ipv4")
        # AWS leaves absent members out (moto sent them as null).
        self.assertNotIn(None, bodies["GetApi"].values())
        self.assertNotIn("description", bodies["GetApi"])
        listed = {a["ApiId"]: a["ProtocolType"] for a in self.v2.get_apis()["Items"]}
        self.assertEqual((listed[http], listed[websocket]), ("HTTP", "WEBSOCKET"))

    def test_creations_answer_201_and_refuse_duplicates(self):
        created = self.v2.create_api(Name=unique("created"), ProtocolType="HTTP", Tags={"team": "payments"})
        self.assertEqual(created["ResponseMetadata"]["HTTPStatusCode"], 201)
        self.assertEqual(created["Tags"], {"team": "payments"})
        api = created["ApiId"]
        route = self.v2.create_route(ApiId=api, RouteKey="GET /orders")
        self.assertEqual(route["ResponseMetadata"]["HTTPStatusCode"], 201)
        self.assertEqual(route["RouteKey"], "GET /orders")
        stage = self.v2.create_stage(ApiId=api, StageName="$default", AutoDeploy=True)
        self.assertEqual(stage["ResponseMetadata"]["HTTPStatusCode"], 201)
        self.assertEqual((stage["StageName"], stage["AutoDeploy"]), ("$default", True))

        response = self.assertClientError("ConflictException", self.v2.create_stage, ApiId=api, StageName="$default")
        self.assertEqual(response["ResponseMetadata"]["HTTPStatusCode"], 409)
        self.assertIs(self.v2.get_stage(ApiId=api, StageName="$default")["AutoDeploy"], True)  # not replaced
        self.assertClientError("ConflictException", self.v2.create_route, ApiId=api, RouteKey="GET /orders")
        self.assertEqual(len(self.v2.get_routes(ApiId=api)["Items"]), 1)
        self.assertClientError("NotFoundException", self.v2.create_stage, ApiId="nope1234", StageName="prod")

    def test_get_stages_and_get_routes_page(self):
        routes = ("GET /orders", "POST /orders", "GET /orders/{id}")
        api = self.http_api(routes=routes, stages=("$default", "prod", "canary"))
        for operation, key, everything in (
            ("get_stages", "StageName", ["$default", "prod", "canary"]),
            ("get_routes", "RouteKey", list(routes)),
        ):
            with self.subTest(operation=operation):
                call = getattr(self.v2, operation)
                first = call(ApiId=api, MaxResults="2")
                self.assertEqual([i[key] for i in first["Items"]], everything[:2])
                last = call(ApiId=api, MaxResults="2", NextToken=first["NextToken"])
                self.assertEqual([i[key] for i in last["Items"]], everything[2:])
                self.assertNotIn("NextToken", last)
                self.assertEqual([i[key] for i in call(ApiId=api)["Items"]], everything)
                pages = self.v2.get_paginator(operation).paginate(ApiId=api, PaginationConfig={"PageSize": 1})
                self.assertEqual([i[key] for p in pages for i in p["Items"]], everything)
                self.assertClientError("NotFoundException", call, ApiId="nope1234")
        [route] = [r for r in self.v2.get_routes(ApiId=api)["Items"] if r["RouteKey"] == "GET /orders"]
        self.assertEqual(set(route), {"ApiKeyRequired", "AuthorizationType", "RequestParameters", "RouteId", "RouteKey"})

    def test_get_stage_answers_what_update_stage_set(self):
        api = self.http_api(routes=("GET /orders", "POST /orders"))
        bodies = raw_bodies(self.v2)
        before = self.v2.get_stage(ApiId=api, StageName="prod")
        self.assertEqual(before["DefaultRouteSettings"], {"DetailedMetricsEnabled": False})
        self.assertEqual(before["RouteSettings"], {})
        self.assertNotIn("AccessLogSettings", before)
        self.v2.update_stage(
            ApiId=api,
            StageName="prod",
            DefaultRouteSettings={"DetailedMetricsEnabled": True, "ThrottlingBurstLimit": 2500, "ThrottlingRateLimit": 5000.0},
            RouteSettings={"POST /orders": {"ThrottlingBurstLimit": 10, "ThrottlingRateLimit": 20.0}},
            AccessLogSettings={"DestinationArn": self.ACCESS_LOG_ARN, "Format": self.FORMAT},
        )
        stage = self.v2.get_stage(ApiId=api, StageName="prod")
        self.assertEqual(
            stage["DefaultRouteSettings"],
            {"DetailedMetricsEnabled": True, "ThrottlingBurstLimit": 2500, "ThrottlingRateLimit": 5000.0},
        )
        self.assertEqual(stage["RouteSettings"], {"POST /orders": {"ThrottlingBurstLimit": 10, "ThrottlingRateLimit": 20.0}})
        self.assertEqual(stage["AccessLogSettings"], {"DestinationArn": self.ACCESS_LOG_ARN, "Format": self.FORMAT})
        # The wire shape the Rust SDK reads (restJson1, lower camel case).
        self.assertEqual(
            bodies["GetStage"]["accessLogSettings"], {"destinationArn": self.ACCESS_LOG_ARN, "format": self.FORMAT}
        )
        self.assertLessEqual(
            {"stageName", "defaultRouteSettings", "routeSettings", "accessLogSettings", "createdDate", "lastUpdatedDate"},
            set(bodies["GetStage"]),
        )
        self.assertIs(type(bodies["GetStage"]["defaultRouteSettings"]["throttlingBurstLimit"]), int)
        self.assertIsInstance(bodies["GetStage"]["defaultRouteSettings"]["throttlingRateLimit"], float)
        self.v2.delete_access_log_settings(ApiId=api, StageName="prod")
        self.assertNotIn("AccessLogSettings", self.v2.get_stage(ApiId=api, StageName="prod"))
        self.assertClientError("NotFoundException", self.v2.get_stage, ApiId=api, StageName="nope")
        self.assertClientError("NotFoundException", self.v2.get_stage, ApiId="nope1234", StageName="prod")

    def test_tags_on_an_api_arn(self):
        api = self.http_api(Tags={"team": "payments"})
        arn = api_arn(api)
        self.assertEqual(self.v2.get_tags(ResourceArn=arn)["Tags"], {"team": "payments"})
        tagged = self.v2.tag_resource(ResourceArn=arn, Tags={"apigw-guard.dev/owner": "payments/orders", "team": "orders"})
        self.assertEqual(tagged["ResponseMetadata"]["HTTPStatusCode"], 201)
        want = {"apigw-guard.dev/owner": "payments/orders", "team": "orders"}
        self.assertEqual(self.v2.get_tags(ResourceArn=arn)["Tags"], want)
        self.assertEqual(self.v2.get_api(ApiId=api)["Tags"], want)
        self.assertEqual(next(a for a in self.v2.get_apis()["Items"] if a["ApiId"] == api)["Tags"], want)
        untagged = self.v2.untag_resource(ResourceArn=arn, TagKeys=["apigw-guard.dev/owner", "absent"])
        self.assertEqual(untagged["ResponseMetadata"]["HTTPStatusCode"], 204)
        self.assertEqual(self.v2.get_tags(ResourceArn=arn)["Tags"], {"team": "orders"})
        missing = api_arn("nope1234")
        self.assertClientError("NotFoundException", self.v2.get_tags, ResourceArn=missing)
        self.assertClientError("NotFoundException", self.v2.tag_resource, ResourceArn=missing, Tags={"a": "b"})
        self.assertClientError("NotFoundException", self.v2.untag_resource, ResourceArn=missing, TagKeys=["a"])

    def test_tags_on_a_stage_arn(self):
        api = self.http_api(stages=())
        self.v2.create_stage(ApiId=api, StageName="$default", Tags={"tier": "gold"})
        arn = f"{api_arn(api)}/stages/$default"
        self.assertEqual(self.v2.get_tags(ResourceArn=arn)["Tags"], {"tier": "gold"})
        self.v2.tag_resource(ResourceArn=arn, Tags={"team": "payments"})
        self.assertEqual(self.v2.get_stage(ApiId=api, StageName="$default")["Tags"], {"tier": "gold", "team": "payments"})
        self.v2.untag_resource(ResourceArn=arn, TagKeys=["tier"])
        self.assertEqual(self.v2.get_tags(ResourceArn=arn)["Tags"], {"team": "payments"})
        self.assertEqual(self.v2.get_tags(ResourceArn=api_arn(api))["Tags"], {})  # the API's are its own
        self.assertClientError("NotFoundException", self.v2.get_tags, ResourceArn=f"{api_arn(api)}/stages/nope")


class RestApiDeploymentTest(LocalAwsServer):
    """API Gateway v1 (REST API) deployments and stages through boto3, as issue 27's deployment
    verification and rollback use them: CreateDeployment, GetDeployment(s), GetStage and
    UpdateStage's deploymentId and canarySettings."""

    def setUp(self):
        self.apigw = self.client("apigateway")

    def rest_api(self, region_client=None):
        apigw = region_client or self.apigw
        api = apigw.create_rest_api(name=unique("orders-rest"))["id"]
        root = apigw.get_resources(restApiId=api)["items"][0]["id"]
        apigw.put_method(restApiId=api, resourceId=root, httpMethod="GET", authorizationType="NONE")
        apigw.put_integration(restApiId=api, resourceId=root, httpMethod="GET", type="MOCK")
        return api

    def stage(self, api, name="prod"):
        return self.apigw.get_stage(restApiId=api, stageName=name)

    def replace(self, api, path, value, name="prod"):
        return self.apigw.update_stage(
            restApiId=api, stageName=name, patchOperations=[{"op": "replace", "path": path, "value": value}]
        )

    def test_create_deployment_with_and_without_a_stage_then_get_it(self):
        api = self.rest_api()
        before = datetime.datetime.now(UTC) - datetime.timedelta(seconds=5)
        first = self.apigw.create_deployment(restApiId=api, stageName="prod", description="v1")
        self.assertEqual(first["ResponseMetadata"]["HTTPStatusCode"], 201)
        self.assertTrue(first["id"])
        self.assertGreaterEqual(first["createdDate"], before)
        stage = self.stage(api)
        self.assertEqual(stage["deploymentId"], first["id"])
        self.assertGreaterEqual(stage["createdDate"], before)
        self.assertGreaterEqual(stage["lastUpdatedDate"], stage["createdDate"])
        self.assertNotIn("canarySettings", stage)

        # Without stageName: a deployment no stage points at, and no stage made.
        second = self.apigw.create_deployment(restApiId=api, description="v2")
        self.assertNotEqual(second["id"], first["id"])
        self.assertEqual([s["stageName"] for s in self.apigw.get_stages(restApiId=api)["item"]], ["prod"])
        self.assertEqual(self.stage(api)["deploymentId"], first["id"])
        got = self.apigw.get_deployment(restApiId=api, deploymentId=second["id"])
        self.assertEqual((got["id"], got["description"]), (second["id"], "v2"))
        self.assertEqual(got["createdDate"], second["createdDate"])
        self.assertClientError("NotFoundException", self.apigw.get_deployment, restApiId=api, deploymentId="nope12")
        self.assertClientError("NotFoundException", self.apigw.get_deployments, restApiId="nope123456")

    def test_create_deployment_on_an_existing_stage_repoints_it_and_keeps_its_settings(self):
        api = self.rest_api()
        first = self.apigw.create_deployment(restApiId=api, stageName="prod", variables={"color": "blue"})["id"]
        self.replace(api, "/tracingEnabled", "true")
        self.replace(api, "/*/*/metrics/enabled", "true")
        before = self.stage(api)
        second = self.apigw.create_deployment(restApiId=api, stageName="prod")["id"]
        after = self.stage(api)
        self.assertEqual((before["deploymentId"], after["deploymentId"]), (first, second))
        self.assertGreater(after["lastUpdatedDate"], before["lastUpdatedDate"])
        self.assertEqual(after["createdDate"], before["createdDate"])
        # The stage is the same stage, pointed elsewhere: its settings stay.
        self.assertIs(after["tracingEnabled"], True)
        self.assertIs(after["methodSettings"]["*/*"]["metricsEnabled"], True)
        self.assertEqual(after["variables"], {"color": "blue"})

    def test_get_deployments_pages_with_position_and_limit(self):
        apigw = self.client("apigateway", "eu-south-2")
        api = self.rest_api(apigw)
        made = [apigw.create_deployment(restApiId=api, description=f"d{i}")["id"] for i in range(5)]
        pages, seen, position = 0, [], None
        while True:
            answer = apigw.get_deployments(restApiId=api, limit=2, **({"position": position} if position else {}))
            pages += 1
            self.assertLessEqual(len(answer["items"]), 2)
            seen += [d["id"] for d in answer["items"]]
            position = answer.get("position")
            if not position:
                break
        self.assertEqual((pages, sorted(seen)), (3, sorted(made)))
        self.assertEqual(len(set(seen)), 5)
        everything = apigw.get_deployments(restApiId=api)  # the default page (25) holds all five
        self.assertEqual(sorted(d["id"] for d in everything["items"]), sorted(made))
        self.assertNotIn("position", everything)
        pages = apigw.get_paginator("get_deployments").paginate(restApiId=api, PaginationConfig={"PageSize": 3})
        self.assertEqual([len(p["items"]) for p in pages], [3, 2])
        for bad in ({"limit": 0}, {"limit": 501}, {"position": "not-a-position"}):
            with self.subTest(request=bad):
                self.assertClientError("BadRequestException", apigw.get_deployments, restApiId=api, **bad)

    def test_update_stage_points_the_stage_at_a_deployment_of_its_api(self):
        api, other = self.rest_api(), self.rest_api()
        first = self.apigw.create_deployment(restApiId=api, stageName="prod")["id"]
        second = self.apigw.create_deployment(restApiId=api)["id"]
        foreign = self.apigw.create_deployment(restApiId=other)["id"]
        before = self.stage(api)
        answer = self.replace(api, "/deploymentId", second)
        self.assertEqual(answer["deploymentId"], second)
        after = self.stage(api)
        self.assertEqual(after["deploymentId"], second)
        self.assertGreater(after["lastUpdatedDate"], before["lastUpdatedDate"])
        self.assertEqual(answer["lastUpdatedDate"], after["lastUpdatedDate"])
        # Rolling back is the same call with the earlier deployment.
        self.assertEqual(self.replace(api, "/deploymentId", first)["deploymentId"], first)
        for bad in ("nope12", foreign):
            with self.subTest(deployment=bad):
                self.assertClientError("BadRequestException", self.replace, api, "/deploymentId", bad)
        self.assertEqual(self.stage(api)["deploymentId"], first)
        self.assertClientError("NotFoundException", self.replace, api, "/deploymentId", first, name="nostage")

    def test_canary_by_update_stage_then_promote_and_remove(self):
        api = self.rest_api()
        base = self.apigw.create_deployment(restApiId=api, stageName="prod")["id"]
        candidate = self.apigw.create_deployment(restApiId=api)["id"]
        self.apigw.update_stage(
            restApiId=api,
            stageName="prod",
            patchOperations=[
                {"op": "replace", "path": "/canarySettings/percentTraffic", "value": "10.5"},
                {"op": "replace", "path": "/canarySettings/deploymentId", "value": candidate},
                {"op": "replace", "path": "/canarySettings/useStageCache", "value": "false"},
                {"op": "replace", "path": "/canarySettings/stageVariableOverrides/color", "value": "green"},
            ],
        )
        stage = self.stage(api)
        self.assertEqual(stage["deploymentId"], base)
        self.assertEqual(
            stage["canarySettings"],
            {"percentTraffic": 10.5, "deploymentId": candidate, "useStageCache": False,
             "stageVariableOverrides": {"color": "green"}},
        )
        updated = self.replace(api, "/canarySettings/percentTraffic", "25.0")
        self.assertEqual(updated["canarySettings"]["percentTraffic"], 25.0)
        self.assertGreater(updated["lastUpdatedDate"], stage["lastUpdatedDate"])
        for value in ("100.1", "-1", "many"):
            with self.subTest(percent=value):
                self.assertClientError("BadRequestException", self.replace, api, "/canarySettings/percentTraffic", value)
        self.assertClientError("BadRequestException", self.replace, api, "/canarySettings/deploymentId", "nope12")

        # While the canary is on, the stage takes no other non-canary deployment.
        other = self.apigw.create_deployment(restApiId=api)["id"]
        self.assertClientError("BadRequestException", self.replace, api, "/deploymentId", other)
        self.assertClientError("BadRequestException", self.replace, api, "/deploymentId", base)
        self.assertClientError("BadRequestException", self.apigw.create_deployment, restApiId=api, stageName="prod")
        self.assertEqual(self.stage(api)["deploymentId"], base)
        self.assertEqual(len(self.apigw.get_deployments(restApiId=api)["items"]), 3)  # none made

        # Promote (AWS's steps): the stage takes the canary's deployment, the canary's traffic 0.
        self.apigw.update_stage(
            restApiId=api,
            stageName="prod",
            patchOperations=[
                {"op": "replace", "path": "/deploymentId", "value": candidate},
                {"op": "replace", "path": "/canarySettings/percentTraffic", "value": "0.0"},
            ],
        )
        stage = self.stage(api)
        self.assertEqual((stage["deploymentId"], stage["canarySettings"]["percentTraffic"]), (candidate, 0.0))
        # Removed, the canary is gone and any deployment of the API may be the stage's again.
        self.apigw.update_stage(
            restApiId=api, stageName="prod", patchOperations=[{"op": "remove", "path": "/canarySettings"}]
        )
        self.assertNotIn("canarySettings", self.stage(api))
        self.assertEqual(self.replace(api, "/deploymentId", base)["deploymentId"], base)

    def test_canary_by_update_stage_starts_on_the_stage_deployment(self):
        api = self.rest_api()
        base = self.apigw.create_deployment(restApiId=api, stageName="prod")["id"]
        stage = self.replace(api, "/canarySettings/percentTraffic", "5")
        self.assertEqual(stage["canarySettings"], {"percentTraffic": 5.0, "deploymentId": base, "useStageCache": False})

    def test_create_deployment_with_canary_settings_makes_the_new_deployment_the_canary(self):
        api = self.rest_api()
        base = self.apigw.create_deployment(restApiId=api, stageName="prod")["id"]
        before = self.stage(api)
        canary = self.apigw.create_deployment(
            restApiId=api, stageName="prod", canarySettings={"percentTraffic": 10.0, "useStageCache": False}
        )
        self.assertEqual(canary["ResponseMetadata"]["HTTPStatusCode"], 201)
        stage = self.stage(api)
        self.assertEqual(stage["deploymentId"], base)
        self.assertEqual(stage["canarySettings"]["deploymentId"], canary["id"])
        self.assertEqual(stage["canarySettings"]["percentTraffic"], 10.0)
        self.assertIs(stage["canarySettings"]["useStageCache"], False)
        self.assertGreater(stage["lastUpdatedDate"], before["lastUpdatedDate"])
        self.assertEqual(self.apigw.get_deployment(restApiId=api, deploymentId=canary["id"])["id"], canary["id"])
        # A later canary deployment replaces the canary's deployment, the stage's stays.
        again = self.apigw.create_deployment(restApiId=api, stageName="prod", canarySettings={"percentTraffic": 20.0})
        stage = self.stage(api)
        self.assertEqual((stage["deploymentId"], stage["canarySettings"]["deploymentId"]), (base, again["id"]))
        self.assertEqual(stage["canarySettings"]["percentTraffic"], 20.0)
        # A canary deployment needs a stage that exists (AWS creates none for it) and needs stageName.
        count = len(self.apigw.get_deployments(restApiId=api)["items"])
        self.assertClientError(
            "BadRequestException", self.apigw.create_deployment,
            restApiId=api, stageName="nostage", canarySettings={"percentTraffic": 10.0},
        )
        self.assertClientError(
            "BadRequestException", self.apigw.create_deployment, restApiId=api, canarySettings={"percentTraffic": 10.0}
        )
        self.assertEqual(len(self.apigw.get_deployments(restApiId=api)["items"]), count)
        self.assertEqual([s["stageName"] for s in self.apigw.get_stages(restApiId=api)["item"]], ["prod"])


class LogGroupTest(LocalAwsServer):
    """CloudWatch Logs log groups through boto3 (JSON 1.1, as the Rust SDK sends it)."""

    def setUp(self):
        self.logs = self.client("logs")
        self.prefix = f"/aws/apigw-guard/{unique('orders-http')}"

    def group(self, suffix="/prod", **fields):
        self.logs.create_log_group(logGroupName=self.prefix + suffix, **fields)
        return self.prefix + suffix

    def described(self, name):
        [group] = [g for g in self.logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"] if g["logGroupName"] == name]
        return group

    def test_create_with_tags_then_describe_by_prefix(self):
        name = self.group(tags={"team": "payments"})
        self.group("/canary")
        self.logs.create_log_group(logGroupName=self.prefix + "-other/prod")
        bodies = raw_bodies(self.logs)
        answer = self.logs.describe_log_groups(logGroupNamePrefix=self.prefix + "/")
        self.assertEqual([g["logGroupName"] for g in answer["logGroups"]], [self.prefix + "/canary", name])
        self.assertNotIn("nextToken", bodies["DescribeLogGroups"])  # AWS leaves it out on the last page
        group = answer["logGroups"][1]
        arn = f"arn:aws:logs:us-east-1:123456789012:log-group:{name}"
        self.assertEqual((group["arn"], group["logGroupArn"]), (arn + ":*", arn))
        self.assertNotIn("retentionInDays", group)  # never set: the log events never expire
        self.assertEqual(group["logGroupClass"], "STANDARD")
        self.assertIs(type(group["creationTime"]), int)
        self.assertEqual((group["metricFilterCount"], group["storedBytes"]), (0, 0))
        self.assertEqual(
            set(bodies["DescribeLogGroups"]["logGroups"][1]),
            {"logGroupName", "creationTime", "metricFilterCount", "arn", "storedBytes", "logGroupClass", "logGroupArn"},
        )
        self.assertEqual(self.logs.list_tags_for_resource(resourceArn=arn)["tags"], {"team": "payments"})
        everything = sorted([self.prefix + "/canary", name, self.prefix + "-other/prod"])  # AWS's name order
        paged = self.logs.describe_log_groups(logGroupNamePrefix=self.prefix, limit=2)
        rest = self.logs.describe_log_groups(logGroupNamePrefix=self.prefix, nextToken=paged["nextToken"])
        self.assertEqual([g["logGroupName"] for g in paged["logGroups"] + rest["logGroups"]], everything)
        self.assertEqual(len(paged["logGroups"]), 2)
        self.assertNotIn("nextToken", rest)

    def test_retention_takes_only_the_documented_days(self):
        name = self.group()
        for days in (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653):
            with self.subTest(days=days):
                self.logs.put_retention_policy(logGroupName=name, retentionInDays=days)
                self.assertEqual(self.described(name)["retentionInDays"], days)
        self.logs.put_retention_policy(logGroupName=name, retentionInDays=30)
        for days in (0, 2, 4, 10, 366, 3654, -1):
            with self.subTest(days=days):
                response = self.assertClientError(
                    "InvalidParameterException", self.logs.put_retention_policy, logGroupName=name, retentionInDays=days
                )
                self.assertIn(f"Value '{days}' at 'retentionInDays'", response["Error"]["Message"])
                self.assertIn("[1, 3, 5, 7, 14, 30,", response["Error"]["Message"])
                self.assertEqual(self.described(name)["retentionInDays"], 30)  # unchanged
        self.logs.delete_retention_policy(logGroupName=name)
        self.assertNotIn("retentionInDays", self.described(name))
        self.assertClientError(
            "ResourceNotFoundException", self.logs.put_retention_policy, logGroupName=name + "-missing", retentionInDays=7
        )

    def test_tags_by_arn_without_the_wildcard(self):
        name = self.group(tags={"team": "payments"})
        arn = self.described(name)["logGroupArn"]
        self.logs.tag_resource(resourceArn=arn, tags={"apigw-guard.dev/owner": "payments/orders"})
        want = {"team": "payments", "apigw-guard.dev/owner": "payments/orders"}
        self.assertEqual(self.logs.list_tags_for_resource(resourceArn=arn)["tags"], want)
        self.assertEqual(self.logs.list_tags_log_group(logGroupName=name)["tags"], want)
        self.logs.untag_resource(resourceArn=arn, tagKeys=["team"])
        self.assertEqual(self.logs.list_tags_log_group(logGroupName=name)["tags"], {"apigw-guard.dev/owner": "payments/orders"})
        # DescribeLogGroups' `arn` (with ":*") is not a resource ARN the tag calls take.
        star = self.described(name)["arn"]
        self.assertTrue(star.endswith(":*"))
        for call, fields in (
            (self.logs.list_tags_for_resource, {}),
            (self.logs.tag_resource, {"tags": {"a": "b"}}),
            (self.logs.untag_resource, {"tagKeys": ["a"]}),
        ):
            with self.subTest(call=call.__name__):
                response = self.assertClientError("ValidationException", call, resourceArn=star, **fields)
                self.assertEqual(response["Error"]["Message"], "Invalid resourceArn")
                missing = arn + "-missing"
                self.assertClientError("ResourceNotFoundException", call, resourceArn=missing, **fields)
        self.assertEqual(self.logs.list_tags_log_group(logGroupName=name)["tags"], {"apigw-guard.dev/owner": "payments/orders"})

    def test_create_twice_and_delete_missing_are_refused(self):
        name = self.group(tags={"team": "payments"})
        self.assertClientError("ResourceAlreadyExistsException", self.logs.create_log_group, logGroupName=name)
        self.logs.delete_log_group(logGroupName=name)
        self.assertEqual(self.logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"], [])
        self.assertClientError("ResourceNotFoundException", self.logs.delete_log_group, logGroupName=name)
        # A new log group of the deleted one's name starts without its tags.
        self.logs.create_log_group(logGroupName=name, logGroupClass="INFREQUENT_ACCESS")
        self.assertEqual(self.logs.list_tags_log_group(logGroupName=name)["tags"], {})
        self.assertEqual(self.described(name)["logGroupClass"], "INFREQUENT_ACCESS")


class HttpApiMetricsTest(LocalAwsServer):
    """CloudWatch metrics and alarms of an HTTP API stage (dimensions ApiId and Stage): through
    boto3 (which speaks CloudWatch's JSON protocol to moto) and as RPC v2 CBOR, which the Rust
    SDK speaks and the bridge turns into it."""

    METRICS = ("5xx", "4xx", "Count", "Latency", "IntegrationLatency")

    def put_data(self, cloudwatch, dims, at):
        values = {
            "5xx": [1.0, 2.0],
            "4xx": [3.0],
            "Count": [10.0, 20.0],
            "Latency": [float(v) for v in range(1, 101)],
            "IntegrationLatency": [40.0, 60.0],
        }
        for metric, series in values.items():
            cloudwatch.put_metric_data(
                Namespace="AWS/ApiGateway",
                MetricData=[{"MetricName": metric, "Dimensions": dims, "Value": v, "Timestamp": at} for v in series],
            )
        return values

    def queries(self, dims):
        def stat(metric, statistic, dimensions=dims):
            metric = {"Namespace": "AWS/ApiGateway", "MetricName": metric, "Dimensions": dimensions}
            return {"MetricStat": {"Metric": metric, "Period": 300, "Stat": statistic}}

        other_stage = [dims[0], {"Name": "Stage", "Value": "dev"}]
        return [
            *({"Id": f"m{i}", **stat(m, "Sum")} for i, m in enumerate(self.METRICS)),
            {"Id": "p99", **stat("Latency", "p99")},
            {"Id": "other", **stat("Latency", "Sum", other_stage)},
        ]

    def alarm(self, name, metric, dims):
        statistic = {"ExtendedStatistic": "p99"} if "Latency" in metric else {"Statistic": "Sum"}
        return {
            "AlarmName": name,
            "Namespace": "AWS/ApiGateway",
            "MetricName": metric,
            "Dimensions": dims,
            "Period": 300,
            "EvaluationPeriods": 1,
            "Threshold": 10.0,
            "ComparisonOperator": "GreaterThanThreshold",
            "TreatMissingData": "notBreaching",
            "Tags": [{"Key": "apigw-guard.dev/owner", "Value": "payments/orders-http"}],
            **statistic,
        }

    def check(self, values, results, alarms, dims):
        got = {r["Id"]: r["Values"] for r in results}
        want = {f"m{i}": [sum(values[m])] for i, m in enumerate(self.METRICS)}
        self.assertEqual(got, {**want, "p99": [99.0], "other": []})
        self.assertEqual(sorted(a["MetricName"] for a in alarms), sorted(self.METRICS))
        for alarm in alarms:
            with self.subTest(metric=alarm["MetricName"]):
                self.assertEqual((alarm["Namespace"], alarm["Dimensions"]), ("AWS/ApiGateway", dims))
                statistic = alarm.get("ExtendedStatistic") or alarm.get("Statistic")
                self.assertEqual(statistic, "p99" if "Latency" in alarm["MetricName"] else "Sum")

    def test_through_boto3(self):
        cloudwatch = self.client("cloudwatch")
        api = uuid.uuid4().hex[:10]
        dims = [{"Name": "ApiId", "Value": api}, {"Name": "Stage", "Value": "prod"}]
        at = datetime.datetime.now(UTC).replace(microsecond=0) - datetime.timedelta(minutes=1)
        values = self.put_data(cloudwatch, dims, at)
        results = cloudwatch.get_metric_data(
            MetricDataQueries=self.queries(dims),
            StartTime=at - datetime.timedelta(minutes=5),
            EndTime=at + datetime.timedelta(minutes=5),
        )["MetricDataResults"]
        for metric in self.METRICS:
            cloudwatch.put_metric_alarm(**self.alarm(f"{api}-{metric}", metric, dims))
        alarms = cloudwatch.describe_alarms(AlarmNamePrefix=f"{api}-")["MetricAlarms"]
        self.check(values, results, alarms, dims)

    def test_as_rpc_v2_cbor(self):
        client = Client(CborBridge(DomainDispatcherApplication(create_backend_app)))

        def call(operation, payload):
            response = cbor_call(client, operation, payload)
            self.assertEqual(response.status_code, 200, response.data)
            self.assertEqual(response.headers["smithy-protocol"], "rpc-v2-cbor")
            return cbor2.loads(response.data)

        api = uuid.uuid4().hex[:10]
        dims = [{"Name": "ApiId", "Value": api}, {"Name": "Stage", "Value": "prod"}]
        at = datetime.datetime.now(UTC).replace(microsecond=0) - datetime.timedelta(minutes=1)
        values = self.put_data(self.client("cloudwatch"), dims, at)
        results = call(
            "GetMetricData",
            {
                "MetricDataQueries": self.queries(dims),
                "StartTime": at - datetime.timedelta(minutes=5),
                "EndTime": at + datetime.timedelta(minutes=5),
            },
        )["MetricDataResults"]
        for metric in self.METRICS:
            self.assertEqual(call("PutMetricAlarm", self.alarm(f"{api}-{metric}", metric, dims)), {})
        alarms = call("DescribeAlarms", {"AlarmNamePrefix": f"{api}-"})["MetricAlarms"]
        self.check(values, results, alarms, dims)


class SeedDemoTest(LocalAwsServer):
    """scripts/seed_demo.py: what every example names, in the local AWS's account and the
    accounts example's, seeded once however often it runs."""

    REGION = "ap-southeast-4"  # seeded here alone, so its listings hold only the demo's

    def client(self, service, region=None, **credentials):
        if not credentials:
            return super().client(service, region)
        return boto3.client(
            service, endpoint_url=self.endpoint, region_name=region or self.REGION, **credentials
        )

    def test_seeds_what_every_example_names_once(self):
        for _ in range(2):  # seeding again changes nothing
            seed_demo.seed_all(self.client)
        apigw, v2 = self.client("apigateway"), self.client("apigatewayv2")

        apis = {a["name"]: a for a in apigw.get_rest_apis()["items"]}
        self.assertEqual(sorted(apis), ["orders-api", "payments-api", "refunds-api", "search-api"])
        orders = apis["orders-api"]
        # examples/full.yaml names it by this id; the policy example selects it by its tag.
        self.assertEqual(orders["id"], "a1b2c3d4e5")
        self.assertEqual(orders["tags"].get("team"), "payments")
        stages = lambda api: sorted(s["stageName"] for s in apigw.get_stages(restApiId=api)["item"])
        self.assertEqual(stages("a1b2c3d4e5"), ["live-eu", "prod"])
        for name in ("payments-api", "refunds-api", "search-api"):
            self.assertEqual(stages(apis[name]["id"]), ["prod"])
        [plan] = apigw.get_usage_plans()["items"]
        served = [{"apiId": "a1b2c3d4e5", "stage": s} for s in ("prod", "live-eu")]
        self.assertEqual((plan["name"], plan["apiStages"]), ("orders-standard", served))
        self.assertIn("cloudwatchRoleArn", apigw.get_account())

        [http, websocket] = sorted(v2.get_apis()["Items"], key=lambda api: api["ProtocolType"])
        self.assertEqual((http["Name"], http["ProtocolType"], http["Tags"]), ("orders-http", "HTTP", {"team": "payments"}))
        self.assertEqual(
            (websocket["Name"], websocket["ProtocolType"], websocket["Tags"]),
            ("orders-live", "WEBSOCKET", {"team": "payments"}),
        )
        self.assertEqual([s["StageName"] for s in v2.get_stages(ApiId=websocket["ApiId"])["Items"]], ["prod"])
        routes = sorted(r["RouteKey"] for r in v2.get_routes(ApiId=websocket["ApiId"])["Items"])
        self.assertEqual(routes, ["$connect", "$default", "$disconnect", "sendMessage"])
        stages = {s["StageName"]: s for s in v2.get_stages(ApiId=http["ApiId"])["Items"]}
        self.assertEqual(sorted(stages), ["$default", "prod"])
        self.assertIs(stages["$default"]["AutoDeploy"], True)
        self.assertFalse(stages["prod"].get("AutoDeploy", False))
        routes = sorted(r["RouteKey"] for r in v2.get_routes(ApiId=http["ApiId"])["Items"])
        self.assertEqual(routes, ["GET /orders", "POST /orders"])

        # The accounts example's account: orders-api tagged for its AwsAccount, and its role.
        other = self.client(
            "apigateway", **seed_demo.assumed(self.client("sts"), seed_demo.OTHER_ACCOUNT_ROLE)
        )
        [there] = other.get_rest_apis()["items"]
        self.assertEqual((there["name"], there["tags"]), ("orders-api", {"team": "payments"}))
        self.assertEqual([s["stageName"] for s in other.get_stages(restApiId=there["id"])["item"]], ["prod"])
        self.assertIn("111122223333", other.get_account()["cloudwatchRoleArn"])

        # What it prints is the REST API's, tracing off rather than null.
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            seed_demo.show(apigw, self.client("cloudwatch"))
        shown = json.loads(printed.getvalue())
        self.assertEqual(set(shown), {"stage", "usagePlanThrottle", "alarms"})
        self.assertIs(shown["stage"]["tracingEnabled"], False)


class ShapeTest(unittest.TestCase):
    """to_json / to_cbor against botocore shapes, no moto involved."""

    @classmethod
    def setUpClass(cls):
        cls.cloudwatch = botocore.session.get_session().get_service_model("cloudwatch")
        resolver = ShapeResolver(
            {
                "Top": {
                    "type": "structure",
                    "members": {
                        "When": {"shape": "Time"},
                        "Data": {"shape": "Bytes"},
                        "Ratio": {"shape": "Double"},
                        "Count": {"shape": "Integer"},
                        "Big": {"shape": "Long"},
                        "On": {"shape": "Boolean"},
                        "Name": {"shape": "String"},
                        "Series": {"shape": "SeriesMap"},
                        "Items": {"shape": "ItemList"},
                    },
                },
                "SeriesMap": {
                    "type": "map",
                    "key": {"shape": "String"},
                    "value": {"shape": "TimeList"},
                },
                "TimeList": {"type": "list", "member": {"shape": "Time"}},
                "ItemList": {"type": "list", "member": {"shape": "Item"}},
                "Item": {
                    "type": "structure",
                    "members": {
                        "Blobs": {"shape": "BlobMap"},
                        "Values": {"shape": "DoubleList"},
                    },
                },
                "BlobMap": {"type": "map", "key": {"shape": "String"}, "value": {"shape": "Bytes"}},
                "DoubleList": {"type": "list", "member": {"shape": "Double"}},
                "Time": {"type": "timestamp"},
                "Bytes": {"type": "blob"},
                "Double": {"type": "double"},
                "Integer": {"type": "integer"},
                "Long": {"type": "long"},
                "Boolean": {"type": "boolean"},
                "String": {"type": "string"},
            }
        )
        cls.top = resolver.get_shape_by_name("Top")

    T1 = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    T2 = datetime.datetime(2026, 1, 2, 3, 4, 5, 250000, tzinfo=UTC)

    def test_to_json_turns_cbor_values_into_json_values(self):
        converted = to_json(
            self.top,
            {
                "When": self.T1,
                "Data": b"\x00\x01\xff",
                "Ratio": 2,
                "Count": 7,
                "On": False,
                "Name": "n",
                "Missing": None,
                "Series": {"a": [self.T1, self.T2], "b": []},
                "Items": [{"Blobs": {"k": b"hi"}, "Values": [1.5, 2]}],
            },
        )
        self.assertEqual(
            converted,
            {
                "When": 1767323045.0,
                "Data": "AAH/",
                "Ratio": 2,
                "Count": 7,
                "On": False,
                "Name": "n",
                "Series": {"a": [1767323045.0, 1767323045.25], "b": []},
                "Items": [{"Blobs": {"k": "aGk="}, "Values": [1.5, 2]}],
            },
        )
        # Everything is JSON-serialisable now.
        self.assertEqual(json.loads(json.dumps(converted)), converted)

    def test_to_cbor_turns_json_values_into_model_types(self):
        converted = to_cbor(
            self.top,
            {
                "When": 1767323045,
                "Data": "AAH/",
                "Ratio": 2,
                "Count": 7.0,
                "Big": 2**40,
                "On": 1,
                "Name": "n",
                "Missing": None,
                "Series": {"a": [1767323045.25, "2026-01-02T03:04:05Z"]},
                "Items": [{"Blobs": {"k": "aGk="}, "Values": [1, 2.5]}],
            },
        )
        self.assertEqual(converted["When"], self.T1)
        self.assertIsNotNone(converted["When"].tzinfo)
        self.assertEqual(converted["Data"], b"\x00\x01\xff")
        self.assertIs(type(converted["Ratio"]), float)
        self.assertEqual(converted["Ratio"], 2.0)
        self.assertIs(type(converted["Count"]), int)
        self.assertEqual(converted["Count"], 7)
        self.assertEqual(converted["Big"], 2**40)
        self.assertIs(converted["On"], True)
        self.assertEqual(converted["Name"], "n")
        self.assertNotIn("Missing", converted)
        self.assertEqual(converted["Series"], {"a": [self.T2, self.T1]})
        self.assertEqual(converted["Items"], [{"Blobs": {"k": b"hi"}, "Values": [1.0, 2.5]}])
        self.assertIs(type(converted["Items"][0]["Values"][0]), float)

    def test_timestamps_and_blobs_round_trip(self):
        original = {"When": self.T2, "Data": b"\x00payload\xff", "Series": {"s": [self.T1]}}
        back = to_cbor(self.top, json.loads(json.dumps(to_json(self.top, original))))
        self.assertEqual(back, original)

    def test_timestamps_are_cbor_tag_1(self):
        encoded = cbor2.dumps(to_cbor(self.top, {"When": 1767323045}), datetime_as_timestamp=True)
        self.assertTrue(tag_follows_key(encoded, "When", 1), encoded.hex())
        self.assertEqual(cbor2.loads(encoded), {"When": self.T1})

    def test_iso_timestamps_without_an_offset_are_utc(self):
        converted = to_cbor(self.top, {"When": "2026-01-02T03:04:05"})
        self.assertEqual(converted["When"], self.T1)

    def test_unmodelled_values_pass_unchanged(self):
        self.assertEqual(to_json(None, {"x": b"y"}), {"x": b"y"})
        self.assertEqual(to_cbor(None, {"x": 1}), {"x": 1})
        self.assertEqual(to_cbor(self.top, {"Extra": {"n": 1}}), {"Extra": {"n": 1}})

    def test_cloudwatch_put_metric_data_input(self):
        shape = self.cloudwatch.operation_model("PutMetricData").input_shape
        converted = to_json(
            shape,
            {
                "Namespace": "n",
                "MetricData": [
                    {
                        "MetricName": "m",
                        "Timestamp": self.T1,
                        "Values": [1.5],
                        "Counts": [2.0],
                        "StatisticValues": {"SampleCount": 1, "Sum": 1, "Minimum": 1, "Maximum": 1},
                    }
                ],
            },
        )
        self.assertEqual(converted["MetricData"][0]["Timestamp"], self.T1.timestamp())
        self.assertEqual(json.loads(json.dumps(converted)), converted)

    def test_cloudwatch_describe_alarms_output(self):
        shape = self.cloudwatch.operation_model("DescribeAlarms").output_shape
        converted = to_cbor(
            shape,
            {
                "MetricAlarms": [
                    {
                        "AlarmName": "a",
                        "Threshold": 10,
                        "Period": 300.0,
                        "ActionsEnabled": 1,
                        "StateUpdatedTimestamp": 1767323045,
                        "AlarmConfigurationUpdatedTimestamp": "2026-01-02T03:04:05Z",
                        "Dimensions": [{"Name": "Stage", "Value": "prod"}],
                    }
                ]
            },
        )
        alarm = converted["MetricAlarms"][0]
        self.assertIs(type(alarm["Threshold"]), float)
        self.assertIs(type(alarm["Period"]), int)
        self.assertIs(alarm["ActionsEnabled"], True)
        self.assertEqual(alarm["StateUpdatedTimestamp"], self.T1)
        self.assertEqual(alarm["AlarmConfigurationUpdatedTimestamp"], self.T1)
        self.assertEqual(alarm["Dimensions"], [{"Name": "Stage", "Value": "prod"}])

    def test_kinesis_blob_member(self):
        model = botocore.session.get_session().get_service_model("kinesis")
        shape = model.operation_model("PutRecord").input_shape
        converted = to_json(shape, {"StreamName": "s", "Data": b"\x00\x01", "PartitionKey": "k"})
        self.assertEqual(converted["Data"], "AAE=")
        self.assertEqual(to_cbor(shape.members["Data"], "AAE="), b"\x00\x01")


class ServiceModelsTest(unittest.TestCase):
    def test_finds_cloudwatch_by_target_prefix(self):
        models = ServiceModels()
        model = models.find(PREFIX)
        self.assertIsNotNone(model)
        self.assertEqual(model.service_name, "cloudwatch")
        self.assertIn("PutMetricAlarm", model.operation_names)
        self.assertIs(models.find(PREFIX), model)
        self.assertIsNone(models.find("NoSuchService"))


if __name__ == "__main__":
    unittest.main()
