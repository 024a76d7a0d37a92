"""Tests of the local AWS's CBOR bridge, driven in-process (no sockets).

Run: cd scripts && ../.venv/bin/python -m unittest test_local_aws
"""

import datetime
import gzip
import json
import unittest

import botocore.session
import cbor2
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.test import Client

from local_aws import CborBridge, ServiceModels, to_cbor, to_json

PREFIX = "GraniteServiceVersion20100801"
AUTH = (
    "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/monitoring/aws4_request, "
    "SignedHeaders=host, Signature=x"
)


def cbor_call(client, operation, payload, gzipped=False, service=PREFIX):
    body = cbor2.dumps(payload)
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


class BridgeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.models = ServiceModels()
        cls.client = Client(CborBridge(DomainDispatcherApplication(create_backend_app), cls.models))

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
                "EvaluationPeriods": 1,
                "Threshold": 1000.5,
                "ComparisonOperator": "GreaterThanThreshold",
                "Tags": [{"Key": "apigw-guard.dev/owner", "Value": "ns/g"}],
            },
        )

    def test_put_then_describe_round_trips_in_cbor(self):
        put = self.put_alarm("bridge-roundtrip")
        self.assertEqual(put.status_code, 200, put.data)
        self.assertEqual(put.headers["smithy-protocol"], "rpc-v2-cbor")
        described = cbor_call(self.client, "DescribeAlarms", {"AlarmNames": ["bridge-roundtrip"]})
        self.assertEqual(described.status_code, 200)
        self.assertEqual(described.headers["Content-Type"], "application/cbor")
        self.assertEqual(described.headers["smithy-protocol"], "rpc-v2-cbor")
        alarms = cbor2.loads(described.data)["MetricAlarms"]
        self.assertEqual(len(alarms), 1)
        alarm = alarms[0]
        self.assertEqual(alarm["AlarmName"], "bridge-roundtrip")
        self.assertEqual(alarm["ExtendedStatistic"], "p99")
        self.assertEqual(
            sorted((d["Name"], d["Value"]) for d in alarm["Dimensions"]),
            [("ApiName", "orders"), ("Stage", "prod")],
        )
        self.assertIsInstance(alarm["Threshold"], float)
        self.assertEqual(alarm["Threshold"], 1000.5)
        self.assertIsInstance(alarm["Period"], int)
        self.assertEqual(alarm["Period"], 300)
        # Timestamps travel as CBOR tag 1 (epoch seconds), which cbor2 decodes to aware datetimes.
        updated = alarm["StateUpdatedTimestamp"]
        self.assertIsInstance(updated, datetime.datetime)
        self.assertIsNotNone(updated.tzinfo)
        # Tag 1 with a number, as the Smithy RPC v2 CBOR protocol requires; not tag 0 (text).
        self.assertIn(cbor2.dumps(updated, datetime_as_timestamp=True), described.data)
        self.assertNotIn(cbor2.dumps(updated), described.data)

    def test_errors_keep_their_code_in_cbor(self):
        response = cbor_call(
            self.client,
            "TagResource",
            {
                "ResourceARN": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:missing",
                "Tags": [{"Key": "k", "Value": "v"}],
            },
        )
        self.assertGreaterEqual(response.status_code, 400)
        self.assertLess(response.status_code, 500)
        self.assertEqual(response.headers["Content-Type"], "application/cbor")
        body = cbor2.loads(response.data)
        self.assertIn("ResourceNotFound", body["__type"])
        self.assertNotIn(b"{", response.data[:1])

    def test_other_requests_pass_through(self):
        response = self.client.post(
            "/",
            data="Action=ListMetrics&Version=2010-08-01",
            headers={
                "Authorization": AUTH,
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        self.assertEqual(response.status_code, 200)
        self.assertNotIn("smithy-protocol", response.headers)
        self.assertIn(b"ListMetricsResponse", response.data)

    def test_unknown_operation_is_404(self):
        response = cbor_call(self.client, "NoSuchOperation", {})
        self.assertEqual(response.status_code, 404)
        self.assertEqual(cbor2.loads(response.data)["__type"], "UnknownOperationException")
        response = cbor_call(self.client, "DescribeAlarms", {}, service="NoSuchService")
        self.assertEqual(response.status_code, 404)

    def test_gzipped_request_bodies_are_read(self):
        response = cbor_call(
            self.client,
            "PutMetricData",
            {
                "Namespace": "Bridge/Test",
                "MetricData": [
                    {
                        "MetricName": "Hits",
                        "Value": 3.0,
                        "Timestamp": datetime.datetime.now(datetime.timezone.utc),
                    }
                ],
            },
            gzipped=True,
        )
        self.assertEqual(response.status_code, 200, response.data)
        listed = cbor_call(self.client, "ListMetrics", {"Namespace": "Bridge/Test"})
        names = [m["MetricName"] for m in cbor2.loads(listed.data)["Metrics"]]
        self.assertEqual(names, ["Hits"])


class ShapeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.model = botocore.session.get_session().get_service_model("cloudwatch")

    def test_request_values_become_json_values(self):
        shape = self.model.operation_model("PutMetricData").input_shape
        when = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
        converted = to_json(
            shape,
            {"Namespace": "n", "MetricData": [{"MetricName": "m", "Timestamp": when, "Values": [1.5]}]},
        )
        self.assertEqual(converted["MetricData"][0]["Timestamp"], when.timestamp())
        json.dumps(converted)

    def test_response_values_take_the_model_types(self):
        shape = self.model.operation_model("DescribeAlarms").output_shape
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
        self.assertIsInstance(alarm["Threshold"], float)
        self.assertIsInstance(alarm["Period"], int)
        self.assertIs(alarm["ActionsEnabled"], True)
        self.assertEqual(
            alarm["StateUpdatedTimestamp"],
            datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
        )
        self.assertEqual(alarm["AlarmConfigurationUpdatedTimestamp"], alarm["StateUpdatedTimestamp"])
        self.assertEqual(alarm["Dimensions"], [{"Name": "Stage", "Value": "prod"}])

    def test_blobs_are_base64_in_json(self):
        blob = botocore.session.get_session().get_service_model("kinesis")
        shape = blob.operation_model("PutRecord").input_shape
        converted = to_json(shape, {"StreamName": "s", "Data": b"\x00\x01", "PartitionKey": "k"})
        self.assertEqual(converted["Data"], "AAE=")
        self.assertEqual(to_cbor(shape.members["Data"], "AAE="), b"\x00\x01")


if __name__ == "__main__":
    unittest.main()
