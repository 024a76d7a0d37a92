"""Tests of the local AWS's CBOR bridge, driven in-process through WSGI (no sockets).

Run: cd scripts && ../.venv/bin/python -m unittest -v test_local_aws
"""

import datetime
import gzip
import json
import unittest
import uuid

import botocore.session
import cbor2
from botocore.model import ShapeResolver
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.test import Client

from local_aws import CborBridge, ServiceModels, to_cbor, to_json

PREFIX = "GraniteServiceVersion20100801"
# moto picks the backend from the SigV4 credential scope's service name ("monitoring").
AUTH = (
    "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/monitoring/aws4_request, "
    "SignedHeaders=host, Signature=x"
)
UTC = datetime.timezone.utc


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
        body = self.assertCborResponse(
            cbor_call(self.client, "DescribeAlarms", {"AlarmNamePrefix": prefix, "MaxRecords": 500})
        )
        self.assertEqual(len(body["MetricAlarms"]), 7)
        self.assertNotIn("NextToken", body)

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
