"""What AWS refuses that moto takes: each request checked before moto sees it.

Two sources, so that every test the project runs is also a test of conformance:
- the service's published model, as botocore ships it (moto installs botocore): required
  members, types, enums, lengths, ranges and patterns (`model_violations`);
- limits AWS documents that the models do not carry, those that matter to apigw-guard
  (`documented_violations`): CloudWatch dimension values are ASCII with a non-blank character
  (the Dimension data type), a metric alarm's Period is 10, 20, 30 or a multiple of 60 and
  Period x EvaluationPeriods is at most one day (7 days for periods of an hour or more), and
  DatapointsToAlarm is at most EvaluationPeriods (PutMetricAlarm); a dashboard's name is 1 to
  255 of A-Z, a-z, 0-9, - and _ (PutDashboard); moto takes all of these.

`RequestChecker` is the WSGI middleware: it finds the operation of a request (RPC v2 CBOR and
JSON 1.1 by their target, REST JSON by its method and URI template), reads its parameters
as the protocol carries them, and answers the first violations with the service's error in
AWS's message shape ("1 validation error detected: Value ... at '...' failed to satisfy
constraint: ..."), or passes the request on.

GetMetricData of a start time older than 15 days answers no data points for a period that is
not a multiple of 300 s, and older than 63 days for one that is not a multiple of 3,600 s
(GetMetricData, MetricStat.Period): `unserved_queries` names those queries so the bridge
answers them empty, as CloudWatch does.
"""

import datetime
import io
import json
import os
import re
from urllib.parse import parse_qs, unquote

import botocore.session

DAY = 86_400


def _pattern(text):
    """The model's pattern as Python compiles it (Java's `matches()`: the whole value), or
    None where Python's syntax differs."""
    try:
        return re.compile(text)
    except re.error:
        return None


def _shown(value):
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def _camel(name):
    return name[:1].lower() + name[1:]


def model_violations(shape, value, path=""):
    """Every way `value` breaks `shape`'s constraints, each as AWS words it."""
    if value is None or shape is None:
        return []
    out = []
    meta = shape.metadata
    kind = shape.type_name
    at = path or shape.name

    def failed(constraint):
        out.append(f"Value '{_shown(value)}' at '{at}' failed to satisfy constraint: {constraint}")

    if kind == "structure":
        if not isinstance(value, dict):
            return [f"Value at '{at}' failed to satisfy constraint: Member must be a structure"]
        for name in shape.required_members:
            if value.get(name) is None:
                out.append(
                    f"Value null at '{_join(path, name)}' failed to satisfy constraint: Member "
                    "must not be null"
                )
        for name, item in value.items():
            member = shape.members.get(name)
            if member is not None:
                out.extend(model_violations(member, item, _join(path, name)))
        return out
    if kind == "list":
        if not isinstance(value, list):
            return [f"Value at '{at}' failed to satisfy constraint: Member must be a list"]
        _length(failed, len(value), meta)
        for i, item in enumerate(value):
            out.extend(model_violations(shape.member, item, f"{at}.{i + 1}.member"))
        return out
    if kind == "map":
        if not isinstance(value, dict):
            return [f"Value at '{at}' failed to satisfy constraint: Member must be a map"]
        _length(failed, len(value), meta)
        for key, item in value.items():
            out.extend(model_violations(shape.key, key, f"{at}.key"))
            out.extend(model_violations(shape.value, item, f"{at}.{key}"))
        return out
    if kind == "string":
        if not isinstance(value, str):
            failed("Member must be a string")
            return out
        if shape.enum and value not in shape.enum:
            failed(f"Member must satisfy enum value set: [{', '.join(shape.enum)}]")
        _length(failed, len(value), meta)
        pattern = _pattern(meta["pattern"]) if "pattern" in meta else None
        if pattern is not None and not pattern.fullmatch(value):
            failed(f"Member must satisfy regular expression pattern: {meta['pattern']}")
        return out
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            failed("Member must be an integer")
            return out
        _range(failed, value, meta)
        return out
    if kind in ("double", "float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            failed("Member must be a number")
            return out
        _range(failed, value, meta)
        return out
    if kind == "boolean" and not isinstance(value, bool):
        failed("Member must be a boolean")
    return out


def _join(path, name):
    return f"{path}.{_camel(name)}" if path else _camel(name)


def _length(failed, length, meta):
    if "min" in meta and length < meta["min"]:
        failed(f"Member must have length greater than or equal to {meta['min']}")
    if "max" in meta and length > meta["max"]:
        failed(f"Member must have length less than or equal to {meta['max']}")


def _range(failed, number, meta):
    if "min" in meta and number < meta["min"]:
        failed(f"Member must have value greater than or equal to {meta['min']}")
    if "max" in meta and number > meta["max"]:
        failed(f"Member must have value less than or equal to {meta['max']}")


def _dimensions(params):
    """Every (where, dimensions) a CloudWatch request names."""
    found = [("dimensions", params.get("Dimensions") or [])]
    for i, query in enumerate(params.get("Metrics") or params.get("MetricDataQueries") or []):
        metric = ((query or {}).get("MetricStat") or {}).get("Metric") or {}
        where = "metrics" if params.get("Metrics") else "metricDataQueries"
        found.append((f"{where}.{i + 1}.member.metricStat.metric.dimensions", metric.get("Dimensions") or []))
    for i, datum in enumerate(params.get("MetricData") or []):
        found.append((f"metricData.{i + 1}.member.dimensions", (datum or {}).get("Dimensions") or []))
    return found


def _periods(params):
    """Every (where, period) of a PutMetricAlarm: its own, or its metric-math queries'."""
    found = [("period", params["Period"])] if params.get("Period") is not None else []
    for i, query in enumerate(params.get("Metrics") or []):
        stat = (query or {}).get("MetricStat") or {}
        if stat.get("Period") is not None:
            found.append((f"metrics.{i + 1}.member.metricStat.period", stat["Period"]))
    return found


DASHBOARD_NAME = re.compile(r"[A-Za-z0-9_-]{1,255}")


def documented_violations(service, operation, params):
    """What AWS's API reference refuses of this request though the model does not say it."""
    out = []
    if service != "cloudwatch":
        return out
    if operation in ("PutMetricAlarm", "PutMetricData", "GetMetricData", "GetMetricStatistics"):
        for where, dimensions in _dimensions(params):
            for i, dimension in enumerate(dimensions):
                value = (dimension or {}).get("Value")
                if isinstance(value, str) and (not value.isascii() or not value.strip()):
                    out.append(
                        f"Value '{_shown(value)}' at '{where}.{i + 1}.member.value' failed to "
                        "satisfy constraint: Dimension values must contain only ASCII characters "
                        "and at least one non-whitespace character"
                    )
    if operation == "PutMetricAlarm":
        periods = _periods(params)
        evaluations = params.get("EvaluationPeriods")
        for where, period in periods:
            if period not in (10, 20, 30) and period % 60 != 0:
                out.append(
                    f"Value '{period}' at '{where}' failed to satisfy constraint: Period must "
                    "be 10, 20, 30 or a multiple of 60"
                )
            longest = 7 * DAY if period >= 3600 else DAY
            if isinstance(evaluations, int) and period * evaluations > longest:
                out.append(
                    f"The evaluation period (Period x EvaluationPeriods, {period * evaluations} "
                    f"s) must be at most {longest} s for a period of {period} s"
                )
        datapoints = params.get("DatapointsToAlarm")
        if isinstance(datapoints, int) and isinstance(evaluations, int) and datapoints > evaluations:
            out.append(
                f"DatapointsToAlarm ({datapoints}) must be at most EvaluationPeriods ({evaluations})"
            )
    if operation == "PutDashboard":
        name = params.get("DashboardName")
        if isinstance(name, str) and not DASHBOARD_NAME.fullmatch(name):
            out.append(
                f"Value '{_shown(name)}' at 'dashboardName' failed to satisfy constraint: the "
                "name can contain only alphanumerics, dash (-) and underscore (_), 1 to 255 "
                "characters"
            )
    return out


def served_period(age_seconds):
    """The periods GetMetricData answers for data this old: multiples of it."""
    if age_seconds > 63 * DAY:
        return 3600
    if age_seconds > 15 * DAY:
        return 300
    return 1


def unserved_queries(params, now=None):
    """The Ids of a GetMetricData's MetricStat queries whose period CloudWatch does not serve
    for the request's StartTime: it answers them with no data points."""
    start = params.get("StartTime")
    if isinstance(start, (int, float)):
        start = datetime.datetime.fromtimestamp(start, datetime.timezone.utc)
    if not isinstance(start, datetime.datetime):
        return set()
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if start.tzinfo is None:
        start = start.replace(tzinfo=datetime.timezone.utc)
    multiple = served_period((now - start).total_seconds())
    return {
        query.get("Id")
        for query in params.get("MetricDataQueries") or []
        if ((query.get("MetricStat") or {}).get("Period") or 60) % multiple != 0
    }


class Models:
    """botocore's service models, loaded on first use."""

    def __init__(self):
        self._session = botocore.session.get_session()
        self._models = {}
        self._routes = {}

    def model(self, name):
        if name not in self._models:
            self._models[name] = self._session.get_service_model(name)
        return self._models[name]

    def route(self, name, method, path):
        """The REST JSON operation of `name` whose method and URI template match `path`, with
        the URI's labels."""
        if name not in self._routes:
            routes = []
            model = self.model(name)
            for operation_name in model.operation_names:
                operation = model.operation_model(operation_name)
                uri = operation.http["requestUri"].split("?")[0]
                labels, regex = [], ""
                for part in re.split(r"(\{[^}]+\})", uri):
                    if part.startswith("{"):
                        label = part[1:-1]
                        labels.append(label.rstrip("+"))
                        regex += "(.+)" if label.endswith("+") else "([^/]+)"
                    else:
                        regex += re.escape(part)
                # The literal parts first: /restapis/{id}/stages before /restapis/{id}/{x}.
                literal = len(re.sub(r"\{[^}]+\}", "", uri))
                pattern = re.compile(regex + "$")
                routes.append((-literal, operation.http["method"], pattern, labels, operation))
            self._routes[name] = sorted(routes, key=lambda route: route[0])
        for _, verb, regex, labels, operation in self._routes[name]:
            found = regex.match(path) if verb == method else None
            if found:
                return operation, dict(zip(labels, found.groups()))
        return None, {}


def rest_json_params(operation, labels, query, body):
    """A REST JSON request's parameters by member name: URI labels, query string, body."""
    params = {}
    shape = operation.input_shape
    if shape is None:
        return params
    for name, member in shape.members.items():
        where = member.serialization.get("location")
        key = member.serialization.get("name", name)
        if where == "uri" and key in labels:
            params[name] = _typed(member, labels[key])
        elif where == "querystring" and key in query:
            values = query[key]
            params[name] = values if member.type_name == "list" else _typed(member, values[0])
        elif where is None and isinstance(body, dict) and key in body:
            params[name] = body[key]
    return params


def _typed(member, text):
    if member.type_name in ("integer", "long"):
        try:
            return int(text)
        except ValueError:
            return text
    if member.type_name == "boolean":
        return text == "true"
    return text


class RequestChecker:
    """WSGI middleware: answers a request AWS would refuse, passes the others on."""

    # Service model name, how it is recognised, the error AWS answers a validation with.
    REST_JSON = {"apigatewayv2": "BadRequestException", "apigateway": "BadRequestException"}
    JSON_TARGETS = {
        "Logs_20140328": ("logs", "ValidationException"),
        # CloudWatch's JSON 1.0, as boto3 sends it and as the CBOR bridge forwards the SDK's.
        "GraniteServiceVersion20100801": ("cloudwatch", "ValidationError"),
    }

    def __init__(self, app, models=None):
        self.app = app
        self.models = models or Models()

    # Members whose refusal the local AWS words as AWS does in its own check (local_aws.py's
    # add_log_group_checks: "Invalid resourceArn" for DescribeLogGroups' ":*" ARN form).
    WORDED_ELSEWHERE = {("logs", "resourceArn")}

    def check(self, service, operation_name, params):
        operation = self.models.model(service).operation_model(operation_name)
        found = [
            violation
            for violation in model_violations(operation.input_shape, params)
            if not any(
                service == named and f" at '{member}' " in violation
                for named, member in self.WORDED_ELSEWHERE
            )
        ]
        found += documented_violations(service, operation_name, params)
        return found

    @staticmethod
    def message(violations):
        head = f"{len(violations)} validation error{'s' if len(violations) > 1 else ''} detected: "
        return head + "; ".join(violations)

    def __call__(self, environ, start_response):
        checked = self._checked(environ)
        if checked is None:
            return self.app(environ, start_response)
        service, operation, code, violations, params = checked
        _record(service, operation, violations)
        if not violations and environ.get("HTTP_X_AMZ_TARGET", "").endswith(".GetMetricData"):
            return self._served(environ, start_response, unserved_queries(params))
        if not violations:
            return self.app(environ, start_response)
        body = json.dumps({"__type": code, "message": self.message(violations)}).encode()
        start_response(
            "400 Bad Request",
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
                ("x-amzn-ErrorType", code),
            ],
        )
        return [body]

    def _served(self, environ, start_response, unserved):
        """GetMetricData as CloudWatch answers it: no data points for the `unserved` queries."""
        status, headers, answer = call_app(self.app, environ)
        if unserved and status.startswith("2"):
            payload = json.loads(answer)
            for result in payload.get("MetricDataResults", []):
                if result.get("Id") in unserved:
                    result["Timestamps"], result["Values"] = [], []
            answer = json.dumps(payload).encode()
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        start_response(status, headers + [("Content-Length", str(len(answer)))])
        return [answer]

    def _checked(self, environ):
        """(service, operation, error code, violations, parameters) of a request this checker
        knows; None for others. The body read is put back for the app."""
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        prefix, _, operation = target.partition(".")
        if prefix in self.JSON_TARGETS:
            service, code = self.JSON_TARGETS[prefix]
            try:
                params = json.loads(_read(environ) or b"{}")
            except ValueError:
                return None
            if operation not in self.models.model(service).operation_names:
                return None
            return service, operation, code, self.check(service, operation, params), params
        auth = environ.get("HTTP_AUTHORIZATION", "")
        if "/apigateway/aws4_request" not in auth:
            return None
        path = unquote(environ.get("PATH_INFO", ""))
        service = "apigatewayv2" if path.startswith("/v2/") else "apigateway"
        found, labels = self.models.route(service, environ.get("REQUEST_METHOD", ""), path)
        if found is None:
            return None
        raw = _read(environ)
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError:
            return None
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        params = rest_json_params(found, labels, query, body)
        code = self.REST_JSON[service]
        return service, found.name, code, self.check(service, found.name, params), params


def call_app(app, environ):
    """The WSGI `app`'s whole answer to `environ`: (status, headers, body)."""
    captured = {}

    def capture(status, headers, exc_info=None):
        captured["status"], captured["headers"] = status, headers
        return lambda _data: None

    chunks = app(environ, capture)
    try:
        body = b"".join(chunks)
    finally:
        getattr(chunks, "close", lambda: None)()
    return captured["status"], captured["headers"], body


def _record(service, operation, violations):
    """One JSON line per checked request in $LOCAL_AWS_CONFORMANCE_LOG, when set: what a whole
    test run sent, and what of it AWS would have refused."""
    path = os.environ.get("LOCAL_AWS_CONFORMANCE_LOG")
    if not path:
        return
    line = {"service": service, "operation": operation, "violations": violations}
    with open(path, "a", encoding="utf-8") as log:
        log.write(json.dumps(line) + "\n")


def _read(environ):
    """The request body, put back for whoever reads it next."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(raw)
    return raw
