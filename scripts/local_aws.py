"""The local AWS for apigw-guard: moto's server with a Smithy RPC v2 CBOR bridge in front.

Current AWS SDKs speak Smithy RPC v2 CBOR to CloudWatch
(POST /service/GraniteServiceVersion20100801/operation/PutMetricAlarm with a CBOR body);
moto only speaks CloudWatch's JSON 1.0 and query protocols and answers those calls 404.
`CborBridge` turns each RPC v2 CBOR request into the service's JSON 1.0 request and the JSON
answer back into CBOR, shaping every value by the botocore service model so timestamps,
numbers and blobs come out as the SDK expects. Everything else goes to moto untouched.

moto answers DescribeAlarms with every match at once; AWS pages it (MaxRecords, at most 100,
and NextToken). The bridge pages moto's answer the same way, in AWS's name order, so callers'
paging loops and call counts are what they would be against AWS.

moto's GetMetricData knows Sum, Average, Minimum, Maximum and SampleCount but not percentiles
(p99 comes back empty); `add_percentiles` teaches it pNN over the raw values (nearest rank),
which is what CloudWatch computes for values put one by one.

moto's API Gateway TagResource, UntagResource and GetTags know stage ARNs only and answer a
REST API's ARN (`arn:aws:apigateway:REGION::/restapis/ID`) 404; `add_rest_api_tags` lets them
tag the REST API itself, as AWS does (its tags then show in GetRestApi and GetRestApis);
tests/accounts.rs tags and untags APIs through it.
"""

import argparse
import base64
import datetime
import glob
import gzip
import json
import os
import re
import sys
import threading

import cbor2
import botocore.session
from urllib.parse import unquote

from moto.apigateway import urls as apigateway_urls
from moto.apigateway.responses import APIGatewayResponse
from moto.cloudwatch import models as cloudwatch_models
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

# Operation -> (listed member, page-size parameter, AWS's largest page).
PAGED = {"DescribeAlarms": ("MetricAlarms", "MaxRecords", 100)}

RPC_V2_PATH = re.compile(r"^/service/(?P<service>[^/]+)/operation/(?P<operation>[^/]+)$")


class ServiceModels:
    """Finds a botocore service model by its Smithy service name (the JSON `targetPrefix`).

    Loading all ~480 models takes seconds, so the index reads only each model file's head,
    where botocore keeps `metadata`, and loads the one model a request needs.
    """

    TARGET_PREFIX = re.compile(r'"targetPrefix"\s*:\s*"([^"]+)"')

    def __init__(self):
        self._session = botocore.session.get_session()
        self._names = None
        self._models = {}

    def _index(self):
        names = {}
        data_dirs = self._session.get_component("data_loader").search_paths
        for data_dir in data_dirs:
            for path in glob.glob(os.path.join(data_dir, "*", "*", "service-2.json*")):
                opener = gzip.open if path.endswith(".gz") else open
                with opener(path, "rb") as handle:
                    head = handle.read(4096).decode("utf-8", "replace")
                found = self.TARGET_PREFIX.search(head)
                if "smithy-rpc-v2-cbor" in head and found:
                    names.setdefault(found[1], path.split(os.sep)[-3])
        return names

    def find(self, target_prefix):
        if self._names is None:
            self._names = self._index()
        name = self._names.get(target_prefix)
        if name is None:
            return None
        if name not in self._models:
            self._models[name] = self._session.get_service_model(name)
        return self._models[name]


def to_json(shape, value):
    """A CBOR-decoded request value as the JSON 1.0 protocol writes it."""
    if value is None or shape is None:
        return value
    kind = shape.type_name
    if kind == "structure":
        return {
            key: to_json(shape.members.get(key), item)
            for key, item in value.items()
            if item is not None
        }
    if kind == "list":
        return [to_json(shape.member, item) for item in value]
    if kind == "map":
        return {key: to_json(shape.value, item) for key, item in value.items()}
    if kind == "timestamp" and isinstance(value, datetime.datetime):
        return value.timestamp()
    if kind == "blob" and isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    return value


def to_cbor(shape, value):
    """A JSON 1.0 response value as RPC v2 CBOR carries it (timestamps as tag 1 epoch)."""
    if value is None or shape is None:
        return value
    kind = shape.type_name
    if kind == "structure":
        return {
            key: to_cbor(shape.members.get(key), item)
            for key, item in value.items()
            if item is not None
        }
    if kind == "list":
        return [to_cbor(shape.member, item) for item in value]
    if kind == "map":
        return {key: to_cbor(shape.value, item) for key, item in value.items()}
    if kind == "timestamp":
        if isinstance(value, (int, float)):
            return datetime.datetime.fromtimestamp(value, tz=datetime.timezone.utc)
        parsed = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.timezone.utc)
    if kind == "blob":
        return base64.b64decode(value)
    if kind in ("double", "float"):
        return float(value)
    if kind in ("integer", "long", "short", "byte"):
        return int(value)
    if kind == "boolean":
        return bool(value)
    return value


def error_body(payload):
    """An error as RPC v2 CBOR writes it: `__type` plus the message, nothing else assumed."""
    body = {"__type": payload.get("__type", "InternalFailure")}
    message = payload.get("message", payload.get("Message"))
    if message is not None:
        body["message"] = message
    return body


def page(operation, request, payload):
    """One page of a complete answer, as AWS would give it: `NextToken` is the offset."""
    member, size_param, largest = PAGED[operation]
    items = sorted(payload.get(member, []), key=lambda item: item.get("AlarmName", ""))
    size = min(int(request.get(size_param) or largest), largest)
    start = int(request.get("NextToken") or 0)
    payload[member] = items[start : start + size]
    payload.pop("NextToken", None)
    if start + size < len(items):
        payload["NextToken"] = str(start + size)
    return payload


PERCENTILE = re.compile(r"^p(\d+(?:\.\d+)?)$")


def add_percentiles():
    """Lets moto's metric statistics answer pNN (e.g. p99) by nearest rank."""
    statistics = cloudwatch_models.Statistics
    if getattr(statistics, "_apigw_guard_percentiles", False):
        return
    original = statistics.get_statistics_for_type

    def with_percentiles(self, stat):
        match = PERCENTILE.match(stat)
        if not match:
            return original(self, stat)
        values = sorted(float(v) for v in self.metric_single_values_list)
        if not values:
            return None
        rank = max(1, -(-float(match[1]) * len(values) // 100))
        return values[int(rank) - 1]

    statistics.get_statistics_for_type = with_percentiles
    statistics._apigw_guard_percentiles = True


def add_rest_api_tags():
    """Lets moto's API Gateway tag calls take a REST API's ARN, not only a stage's."""
    if getattr(APIGatewayResponse, "_apigw_guard_rest_api_tags", False):
        return

    def rest_api(self):
        """The REST API a tag call names, or None when it names a stage."""
        arn = unquote(self.path.split("/tags/")[1])
        parts = arn.split("/")
        if len(parts) == 3 and parts[1] == "restapis":
            return self.backend.get_rest_api(parts[2])
        return None

    def wrap(name, on_api):
        original = getattr(APIGatewayResponse, name)

        def call(self):
            api = rest_api(self)
            return original(self) if api is None else on_api(self, api)

        setattr(APIGatewayResponse, name, call)

    def tag(self, api):
        api.tags = {**(api.tags or {}), **(self._get_param("tags") or {})}
        return json.dumps({})

    def untag(self, api):
        for key in self.querystring.get("tagKeys") or []:
            (api.tags or {}).pop(key, None)
        return json.dumps({})

    # The SDK sends the ARN percent-encoded; the server decodes its slashes before routing.
    route = "{0}/tags/arn:(?P<partition>[^/]+):apigateway:(?P<region_name>[^/]+)::/restapis/(?P<function_id>[^/]+)$"
    apigateway_urls.url_paths[route] = APIGatewayResponse.dispatch
    wrap("tag_resource", tag)
    wrap("untag_resource", untag)
    wrap("get_tags", lambda self, api: json.dumps({"tags": api.tags or {}}))
    APIGatewayResponse._apigw_guard_rest_api_tags = True


class CborBridge:
    """WSGI middleware: RPC v2 CBOR in, JSON 1.0 to the wrapped app, CBOR back out."""

    def __init__(self, app, models=None):
        add_percentiles()
        add_rest_api_tags()
        self.app = app
        self.models = models or ServiceModels()

    def __call__(self, environ, start_response):
        match = RPC_V2_PATH.match(environ.get("PATH_INFO", ""))
        if not match or environ.get("HTTP_SMITHY_PROTOCOL") != "rpc-v2-cbor":
            return self.app(environ, start_response)
        model = self.models.find(match["service"])
        if model is None or match["operation"] not in model.operation_names:
            return self._reply(
                start_response,
                "404 Not Found",
                [],
                {"__type": "UnknownOperationException"},
            )
        operation = model.operation_model(match["operation"])
        raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        if environ.get("HTTP_CONTENT_ENCODING") == "gzip":
            raw = gzip.decompress(raw)
        request = cbor2.loads(raw) if raw else {}
        body = json.dumps(to_json(operation.input_shape, request)).encode()

        inner = dict(environ)
        inner.pop("HTTP_CONTENT_ENCODING", None)
        inner.update(
            {
                "PATH_INFO": "/",
                "CONTENT_TYPE": "application/x-amz-json-1.0",
                "CONTENT_LENGTH": str(len(body)),
                "HTTP_X_AMZ_TARGET": f"{match['service']}.{match['operation']}",
                "wsgi.input": _Body(body),
            }
        )
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return lambda _data: None

        chunks = self.app(inner, capture)
        try:
            answer = b"".join(chunks)
        finally:
            getattr(chunks, "close", lambda: None)()
        payload = json.loads(answer) if answer.strip() else {}
        status = captured["status"]
        if status.startswith("2") and match["operation"] in PAGED:
            payload = page(match["operation"], request, payload)
        if status.startswith("2"):
            out = to_cbor(operation.output_shape, payload) if operation.output_shape else {}
        else:
            out = error_body(payload)
        kept = [
            (name, value)
            for name, value in captured["headers"]
            if name.lower() not in ("content-type", "content-length", "x-amz-crc32")
        ]
        return self._reply(start_response, status, kept, out)

    @staticmethod
    def _reply(start_response, status, headers, value):
        body = cbor2.dumps(value, datetime_as_timestamp=True)
        start_response(
            status,
            headers
            + [
                ("Content-Type", "application/cbor"),
                ("Content-Length", str(len(body))),
                ("smithy-protocol", "rpc-v2-cbor"),
            ],
        )
        return [body]


class _Body:
    """A rewound request body for the inner app."""

    def __init__(self, data):
        self._data, self._pos = data, 0

    def read(self, size=-1):
        end = len(self._data) if size is None or size < 0 else self._pos + size
        chunk = self._data[self._pos : end]
        self._pos += len(chunk)
        return chunk

    def readline(self, size=-1):
        return self.read(size)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--exit-with-parent",
        action="store_true",
        help="exit when standard input closes (the parent process ended)",
    )
    args = parser.parse_args()
    app = CborBridge(DomainDispatcherApplication(create_backend_app))
    server = make_server(
        "127.0.0.1", args.port, app, threaded=True, request_handler=MotoRequestHandler
    )
    print(f"AWS_ENDPOINT_URL=http://127.0.0.1:{server.server_port}", flush=True)
    if args.exit_with_parent:

        def watch_parent():
            sys.stdin.read()
            os._exit(0)

        threading.Thread(target=watch_parent, daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
