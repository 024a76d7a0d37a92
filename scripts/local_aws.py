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
tests/it/accounts.rs tags and untags APIs through it.

moto's API Gateway (REST API) CreateDeployment on an existing stage replaces the stage with a
bare one (its settings lost), ignores canarySettings, and GetDeployment of a missing id fails
(500); GetDeployments does not page, GetStage has no createdDate, lastUpdatedDate or
canarySettings, and UpdateStage takes any deploymentId and no canarySettings patch;
`add_rest_api_deployments` makes these AWS's, with the canary rules (see there).

moto's API Gateway v2 creates and reads stages but has no UpdateStage, DeleteRouteSettings or
DeleteAccessLogSettings; `add_http_api_stage_updates` adds them, with AWS's refusals (see there).
It has no deployments either; `add_v2_deployments` adds CreateDeployment, GetDeployment and
GetDeployments, a stage serving the deployment made for it (see there).
Its listings do not page, and its creations and tag calls differ from AWS in status codes,
conflicts and which ARNs they take; `add_http_api_reads` fixes those (see there).

moto's CloudWatch Logs takes any retention, tags any ARN (the ":*" form too) and keeps a deleted
log group's tags; `add_log_group_checks` makes them AWS's (see there).

moto's CloudWatch has no PutCompositeAlarm, returns composite alarms from DescribeAlarms whatever
AlarmTypes says and deletes any alarm; `add_composite_alarms` adds the call, AlarmTypes,
ParentsOfAlarmName/ChildrenOfAlarmName, and DeleteAlarms' refusals (see there).

moto's PutMetricAlarm stores and describes a metric-math alarm's Metrics, and SetAlarmState,
TagResource and ListTagsForResource work on metric-math and composite alarms alike, but it takes
any Metrics list; `add_metric_math_checks` adds AWS's refusals (see there).

moto takes what AWS refuses: every request is checked against the service's published model and
the limits AWS documents that matter here (`conformance.RequestChecker`, in front of moto, so a
CBOR request is checked once the bridge made it JSON 1.0), and GetMetricData answers no data
points for a period CloudWatch does not keep for the start time (`conformance.unserved_queries`).
moto's UpdateUsagePlan takes `/throttle/rateLimit` with int(), so a rate of 123.5 (a double
in AWS) fails with 500; `add_usage_plan_rate_as_double` keeps it a double.
"""

import argparse
import base64
import datetime
import glob
import gzip
import json
import os
import random
import re
import sys
import threading
import time

import cbor2
import botocore.session
from urllib.parse import unquote

from moto.apigateway import urls as apigateway_urls
from moto.apigateway.exceptions import BadRequestException as RestBadRequestException
from moto.apigateway.exceptions import NotFoundException as RestNotFoundException
from moto.apigateway.models import APIGatewayBackend, RestAPI, UsagePlan, apigateway_backends
from moto.apigateway.models import Stage as RestStage
from moto.apigateway.responses import APIGatewayResponse
from moto.apigatewayv2 import models as apigatewayv2_models
from moto.apigatewayv2 import urls as apigatewayv2_urls
from moto.apigatewayv2.exceptions import APIGatewayV2Error, BadRequestException
from moto.apigatewayv2.responses import ApiGatewayV2Response
from moto.cloudwatch import models as cloudwatch_models
from moto.cloudwatch.exceptions import ValidationError as CloudWatchValidationError
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.responses import ActionResult, EmptyResult
from moto.logs import models as logs_models
from moto.logs.exceptions import InvalidParameterException as LogsInvalidParameterException
from moto.logs.exceptions import ResourceNotFoundException as LogsResourceNotFoundException
from moto.logs.exceptions import ValidationException as LogsValidationException
from moto.logs.models import LogsBackend
from moto.logs.responses import LogsResponse
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

from conformance import RequestChecker, call_app

# Operation -> (listed members, page-size parameter, AWS's largest page). DescribeAlarms pages
# its two lists together (MaxRecords counts alarms of both kinds), here in one name order.
PAGED = {"DescribeAlarms": (("MetricAlarms", "CompositeAlarms"), "MaxRecords", 100)}

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
    members, size_param, largest = PAGED[operation]
    items = sorted(
        ((item.get("AlarmName", ""), member, item) for member in members for item in payload.get(member, [])),
        key=lambda entry: entry[:2],
    )
    size = min(int(request.get(size_param) or largest), largest)
    start = int(request.get("NextToken") or 0)
    kept = items[start : start + size]
    for member in members:
        payload[member] = [item for _, listed, item in kept if listed == member]
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


class RestDeploymentNotFound(RestNotFoundException):
    code = 404

    def __init__(self):
        super().__init__("Invalid Deployment identifier specified")


# AWS's words (developer guide, canary release): "After the canary release is enabled, the
# deployment stage cannot be associated with another non-canary release deployment until the
# canary release is disabled and the canary settings removed from the stage." The message is ours.
CANARY_ACTIVE = (
    "Stage {stage} has a canary release: it can only take the canary's deployment {canary} "
    "until the canary settings are removed"
)
CANARY_PATH = "/canarySettings/"


def stamp(stage):
    """Sets the stage's lastUpdatedDate to now (epoch seconds, ms), always later than before."""
    previous = getattr(stage, "last_updated_date", 0)
    stage.last_updated_date = max(round(time.time(), 3), round(previous + 0.001, 3))


def deployment_of(api, deployment_id):
    """The id, if it is a deployment of this API. AWS's API reference does not say how UpdateStage
    refuses another id; CreateStage is seen answering BadRequestException "Deployment id does not
    exist", so that is used here too (an assumption)."""
    if deployment_id not in api.deployments:
        raise RestBadRequestException("Deployment id does not exist")
    return deployment_id


def percent_traffic(value):
    """Canary percentTraffic: a number from 0.0 to 100.0 (the message is ours)."""
    try:
        percent = float(value)
    except (TypeError, ValueError):
        percent = -1.0
    if not 0.0 <= percent <= 100.0:
        raise RestBadRequestException(f"Invalid percentTraffic {value}: it must be between 0.0 and 100.0")
    return percent


def plan_stage_patch(api, stage, operations):
    """Checks UpdateStage's deploymentId and canarySettings operations, in order, before anything
    changes; answers the stage's deploymentId and canarySettings after them, and the operations
    moto applies itself."""
    deployment = stage.deployment_id
    canary = dict(stage.canary_settings) if stage.canary_settings is not None else None
    rest = []
    for op in operations:
        path, kind, value = op.get("path", ""), op.get("op"), op.get("value")
        if path == "/canarySettings" and kind == "remove":
            canary = None
        elif path.startswith(CANARY_PATH):
            # A canary added by UpdateStage starts on the stage's own deployment.
            canary = canary or {"percentTraffic": 0.0, "deploymentId": deployment, "useStageCache": False}
            key = path[len(CANARY_PATH):]
            if key == "percentTraffic":
                canary["percentTraffic"] = percent_traffic(value)
            elif key == "deploymentId":
                canary["deploymentId"] = deployment_of(api, value)
            elif key == "useStageCache":
                canary["useStageCache"] = str(value).lower() == "true"
            elif key.startswith("stageVariableOverrides/"):
                overrides = dict(canary.get("stageVariableOverrides") or {})
                name = key.split("/", 1)[1]
                if kind == "remove":
                    overrides.pop(name, None)
                else:
                    overrides[name] = value
                canary["stageVariableOverrides"] = overrides
            else:
                raise RestBadRequestException(f"Invalid patch path {path}")
        elif path == "/deploymentId":
            deployment = deployment_of(api, value)
            if canary is not None and deployment != canary["deploymentId"]:
                raise RestBadRequestException(CANARY_ACTIVE.format(stage=stage.name, canary=canary["deploymentId"]))
        else:
            rest.append(op)
    return deployment, canary, rest


def add_rest_api_deployments():
    """Makes moto's API Gateway (REST API) deployments and stages behave as AWS documents:

    - Stage carries createdDate and lastUpdatedDate (epoch seconds); every UpdateStage and every
      CreateDeployment naming the stage moves lastUpdatedDate on. canarySettings shows when set.
    - CreateDeployment with the stageName of an existing stage points that stage at the new
      deployment and keeps its settings (moto made a new bare stage); its variables are merged
      into the stage's. With canarySettings the new deployment becomes the canary's
      (canarySettings.deploymentId) and the stage's deploymentId stays; AWS: "you cannot specify
      any non-existing stage name when creating a canary release deployment" (BadRequestException,
      nothing created; the message is ours).
    - GetDeployment of an id the API does not have answers NotFoundException (moto: 500).
    - GetDeployments pages: `limit` (default 25, at most 500, as the API reference says) and
      `position` (here an offset); a bad limit or position is BadRequestException (ours).
    - UpdateStage `replace /deploymentId` and `/canarySettings/deploymentId` take only a
      deployment of the same API (see `deployment_of`); `/canarySettings/percentTraffic` (0.0 to
      100.0), `/useStageCache` and `/stageVariableOverrides/NAME` change the canary; `remove
      /canarySettings` turns it off ("Update a canary release", "Turn off a canary release").
    - While a canary is set, the stage takes no deployment other than the canary's: UpdateStage
      `/deploymentId` (promoting to the canary's deployment is allowed) and CreateDeployment to
      the stage without canarySettings are refused with BadRequestException (see CANARY_ACTIVE).
    """
    if getattr(APIGatewayResponse, "_apigw_guard_rest_deployments", False):
        return
    stage_init, stage_json = RestStage.__init__, RestStage.to_json
    backend_update_stage = APIGatewayBackend.update_stage
    get_deployment = RestAPI.get_deployment
    create_deployment = APIGatewayResponse.create_deployment
    get_deployments = APIGatewayResponse.get_deployments

    def init(self, *args, **kwargs):
        stage_init(self, *args, **kwargs)
        self.created_date = self.last_updated_date = round(time.time(), 3)
        self.canary_settings = None

    def to_json(self):
        out = stage_json(self)
        out["createdDate"], out["lastUpdatedDate"] = self.created_date, self.last_updated_date
        if self.canary_settings is not None:
            out["canarySettings"] = self.canary_settings
        return out

    def update_stage(self, function_id, stage_name, patch_operations):
        api = self.get_rest_api(function_id)
        stage = self.get_stage(function_id, stage_name)
        deployment, canary, rest = plan_stage_patch(api, stage, patch_operations or [])
        backend_update_stage(self, function_id, stage_name, rest)
        stage.deployment_id, stage.canary_settings = deployment, canary
        stamp(stage)
        return stage

    def find_deployment(self, deployment_id):
        if deployment_id not in self.deployments:
            raise RestDeploymentNotFound()
        return get_deployment(self, deployment_id)

    def deploy(self):
        function_id = self.path.replace("/restapis/", "", 1).split("/")[0]
        api = self.backend.get_rest_api(function_id)
        name = self._get_param("stageName")
        canary = self._get_param("canarySettings")
        stage = api.stages.get(name) if name else None
        if canary is not None:
            if stage is None:
                raise RestBadRequestException(
                    "A canary release deployment needs the stageName of an existing stage"
                )
            percent = percent_traffic(canary.get("percentTraffic", 0.0))
        elif stage is not None and stage.canary_settings is not None:
            raise RestBadRequestException(
                CANARY_ACTIVE.format(stage=name, canary=stage.canary_settings["deploymentId"])
            )
        if stage is None:
            return create_deployment(self)  # moto makes the new stage, or none without stageName
        deployment = self.backend.create_deployment(function_id, None, self._get_param("description"))
        deployment.stage_name = name  # moto refuses to delete a deployment its stage uses
        if canary is None:
            stage.deployment_id = deployment.id
            stage.variables.update(self._get_param("variables") or {})
        else:
            stage.canary_settings = {
                "percentTraffic": percent,
                "deploymentId": deployment.id,
                "useStageCache": bool(canary.get("useStageCache", False)),
                **({"stageVariableOverrides": canary["stageVariableOverrides"]} if canary.get("stageVariableOverrides") else {}),
            }
        stamp(stage)
        return 201, {"status": 201}, json.dumps(deployment.to_json())

    def paged_deployments(self):
        status, headers, body = 200, {}, get_deployments(self)
        items = json.loads(body)["item"]
        limit = (self.querystring.get("limit") or ["25"])[0]
        position = (self.querystring.get("position") or ["0"])[0]
        if not (str(limit).isdigit() and 1 <= int(limit) <= 500):
            raise RestBadRequestException(f"Invalid limit {limit}: it must be from 1 to 500")
        if not (str(position).isdigit() and int(position) <= len(items)):
            raise RestBadRequestException(f"Invalid position {position}")
        start, end = int(position), int(position) + int(limit)
        out = {"item": items[start:end]}
        if end < len(items):
            out["position"] = str(end)
        return status, headers, json.dumps(out)

    RestStage.__init__, RestStage.to_json = init, to_json
    APIGatewayBackend.update_stage = update_stage
    RestAPI.get_deployment = find_deployment
    APIGatewayResponse.create_deployment = deploy
    APIGatewayResponse.get_deployments = paged_deployments
    APIGatewayResponse._apigw_guard_rest_deployments = True


class NotFoundException(APIGatewayV2Error):
    code = 404

    def __init__(self, message):
        super().__init__("NotFoundException", message)


# AccessLogSettings.Format "must include at least $context.requestId" (API reference, v2
# AccessLogSettings); `$context.requestIdFoo` is another variable.
REQUEST_ID = re.compile(r"\$context\.requestId(?![A-Za-z0-9_])")
LOG_GROUP_ARN = re.compile(r"^arn:[^:]+:logs:[^:]+:\d{12}:log-group:[^:]+(:\*)?$")
# RouteSettings.LoggingLevel and DataTraceEnabled are "supported only for WebSocket APIs" (API
# reference); an HTTP API stage given either (any value, OFF and false too) answers
# "BadRequestException: Execution logs are not supported on protocolType HTTP".
EXECUTION_LOG_SETTINGS = ("loggingLevel", "dataTraceEnabled")
STAGE_FIELDS = {
    "autoDeploy": "auto_deploy",
    "clientCertificateId": "client_certificate_id",
    "deploymentId": "deployment_id",
    "description": "description",
}


# A WebSocket API logs (execution and access logs) through the account's CloudWatch Logs role,
# as a REST API does; without one AWS refuses the UpdateStage that turns logging on.
NO_LOG_ROLE = "CloudWatch Logs role ARN must be set in account settings to enable logging"


def enables_logging(settings, access):
    """Whether an UpdateStage body's route settings or access log settings turn logging on."""
    return access is not None or any(
        s.get("loggingLevel") not in (None, "OFF") or s.get("dataTraceEnabled") is True for s in settings
    )


def check_stage_update(api, stage, body, log_role):
    """AWS's refusals of an UpdateStage body, all checked before anything changes; `log_role` is
    the account's CloudWatch Logs role ARN in the region (API Gateway's GetAccount)."""
    route_settings = body.get("routeSettings") or {}
    settings = [body.get("defaultRouteSettings") or {}, *route_settings.values()]
    if api.protocol_type == "HTTP" and any(k in s for s in settings for k in EXECUTION_LOG_SETTINGS):
        raise BadRequestException("Execution logs are not supported on protocolType HTTP")
    if api.protocol_type == "WEBSOCKET" and not log_role and enables_logging(settings, body.get("accessLogSettings")):
        raise BadRequestException(NO_LOG_ROLE)
    access = body.get("accessLogSettings")
    if access is not None:
        if not REQUEST_ID.search(access.get("format") or ""):
            raise BadRequestException("Access Log format must contain at least $context.requestId")
        # DestinationArn is "the ARN of the CloudWatch Logs log group" (with or without the ":*"
        # DescribeLogGroups adds); the message is ours, AWS's wording is not documented.
        if not LOG_GROUP_ARN.match(access.get("destinationArn") or ""):
            raise BadRequestException("Invalid destination ARN: it must be a CloudWatch Logs log group ARN")
    # Route settings name routes that exist (AWS: NotFoundException "Unable to find Route by key
    # GET /x within the provided RouteSettings").
    route_keys = {route.route_key for route in api.routes.values()}
    for key in route_settings:
        if key not in route_keys:
            raise NotFoundException(f"Unable to find Route by key {key} within the provided RouteSettings")
    # DeploymentId "Can't be updated if autoDeploy is enabled" (API reference, UpdateStage; the
    # message is ours), and names a deployment of the API.
    auto_deploy = body.get("autoDeploy", stage.auto_deploy)
    if "deploymentId" in body and auto_deploy:
        raise BadRequestException("Deployment id cannot be specified when autoDeploy is enabled")
    if "deploymentId" in body and body["deploymentId"] not in v2_deployments(api):
        raise NotFoundException(f"Invalid Deployment identifier specified {body['deploymentId']}")


def api_of(response):
    """The v2 API a /v2/apis/{apiId}/... request names (NotFoundException when missing)."""
    return response.apigatewayv2_backend.get_api(response.path.split("/")[3])


def v2_deployments(api):
    """The API's deployments by id (`add_v2_deployments`), made on first use."""
    if not hasattr(api, "apigw_guard_deployments"):
        api.apigw_guard_deployments = {}
    return api.apigw_guard_deployments


def add_v2_deployments():
    """Adds API Gateway v2 CreateDeployment, GetDeployment and GetDeployments, which moto lacks
    (its server answers them 404).

    CreateDeployment answers 201 with the deployment (deploymentId, createdDate,
    deploymentStatus DEPLOYED, autoDeployed false, description); given a stageName, the stage
    then serves it (its deploymentId, and its lastUpdatedDate now), as AWS does; a stage the
    API lacks is NotFoundException and makes nothing. GetDeployment of an id the API lacks is
    NotFoundException. UpdateStage's deploymentId must name one of them (check_stage_update).
    The messages are ours.
    """
    if getattr(ApiGatewayV2Response, "_apigw_guard_v2_deployments", False):
        return

    def create_deployment(self):
        api = api_of(self)
        body = json.loads(self.body or "{}")
        stage = api.get_stage(body["stageName"]) if body.get("stageName") else None
        made = {
            "deploymentId": "".join(random.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=6)),
            "createdDate": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "deploymentStatus": "DEPLOYED",
            "autoDeployed": False,
        }
        if body.get("description"):
            made["description"] = body["description"]
        v2_deployments(api)[made["deploymentId"]] = made
        if stage is not None:
            stage.deployment_id = made["deploymentId"]
            stage.updated = datetime.datetime.now()
        return 201, {"status": 201}, json.dumps(made)

    def get_deployment(self):
        api = api_of(self)
        deployment_id = self.path.rstrip("/").split("/")[-1]
        found = v2_deployments(api).get(deployment_id)
        if found is None:
            raise NotFoundException(f"Invalid Deployment identifier specified {deployment_id}")
        return 200, {}, json.dumps(found)

    def get_deployments(self):
        return 200, {}, json.dumps({"items": list(v2_deployments(api_of(self)).values())})

    ApiGatewayV2Response.create_deployment = create_deployment
    ApiGatewayV2Response.get_deployment = get_deployment
    ApiGatewayV2Response.get_deployments = get_deployments
    deployments = "{0}/v2/apis/(?P<api_id>[^/]+)/deployments"
    for table in (apigateway_urls.url_paths, apigatewayv2_urls.url_paths):
        table[deployments + "$"] = ApiGatewayV2Response.dispatch
        table[deployments + "/(?P<deployment_id>[^/]+)$"] = ApiGatewayV2Response.dispatch
    ApiGatewayV2Response._apigw_guard_v2_deployments = True


def add_http_api_stage_updates():
    """Adds API Gateway v2 UpdateStage, DeleteRouteSettings and DeleteAccessLogSettings to moto.

    A WebSocket API stage's logging (a LoggingLevel other than OFF, DataTraceEnabled, access log
    settings) needs the account's CloudWatch Logs role, as AWS says (NO_LOG_ROLE); moto does not
    check.

    UpdateStage is a partial update: a field it does not name keeps its value (an omitted
    accessLogSettings keeps access logging on; DeleteAccessLogSettings turns it off), the
    defaultRouteSettings and each named route's settings change only in the fields given, and
    routeSettings keys it does not name stay (DeleteRouteSettings removes one). It answers the
    whole stage, as GetStage does.
    """
    if getattr(ApiGatewayV2Response, "_apigw_guard_stage_updates", False):
        return
    stage_class = apigatewayv2_models.Stage
    stage_json = stage_class.to_json

    def to_json(self):
        out = stage_json(self)
        deployment_id = getattr(self, "deployment_id", self.config.get("deploymentId"))
        if deployment_id:
            out["deploymentId"] = deployment_id
        return out

    def api_and_stage(self):
        """The API and stage a /v2/apis/{apiId}/stages/{stageName}[/...] path names (404s)."""
        parts = self.path.split("/")
        api = self.apigatewayv2_backend.get_api(parts[3])
        return api, api.get_stage(unquote(parts[5]))

    def update_stage(self):
        api, stage = api_and_stage(self)
        body = json.loads(self.body or "{}")
        account = apigateway_backends[self.current_account][self.region].get_account()
        check_stage_update(api, stage, body, account.cloudwatch_role_arn)
        if "accessLogSettings" in body:
            stage.access_log_settings = dict(body["accessLogSettings"])
        if "defaultRouteSettings" in body:
            stage.default_route_settings = {
                **(stage.default_route_settings or {}),
                **body["defaultRouteSettings"],
            }
        if "routeSettings" in body:
            routes = dict(stage.route_settings or {})
            for key, settings in body["routeSettings"].items():
                routes[key] = {**routes.get(key, {}), **settings}
            stage.route_settings = routes
        if "stageVariables" in body:
            stage.stage_variables = {**(stage.stage_variables or {}), **body["stageVariables"]}
        for field, attribute in STAGE_FIELDS.items():
            if field in body:
                setattr(stage, attribute, body[field])
        stage.updated = datetime.datetime.now()
        return 200, {}, json.dumps(stage.to_json())

    def delete_route_settings(self):
        api, stage = api_and_stage(self)
        key = unquote(self.path.split("/routesettings/", 1)[1])
        if key not in (stage.route_settings or {}):
            raise NotFoundException(f"Unable to find route settings for key {key}")
        stage.route_settings = {k: v for k, v in stage.route_settings.items() if k != key}
        return 204, {"status": 204}, ""

    def delete_access_log_settings(self):
        _, stage = api_and_stage(self)
        stage.access_log_settings = None
        return 204, {"status": 204}, ""

    stage_class.to_json = to_json
    ApiGatewayV2Response.update_stage = update_stage
    ApiGatewayV2Response.delete_route_settings = delete_route_settings
    ApiGatewayV2Response.delete_access_log_settings = delete_access_log_settings
    # The route key ("GET /pets") reaches the router with its slash decoded. API Gateway's
    # URL table holds a copy of v2's, so both get the routes.
    stage_path = "{0}/v2/apis/(?P<api_id>[^/]+)/stages/(?P<stage_name>[^/]+)"
    for table in (apigateway_urls.url_paths, apigatewayv2_urls.url_paths):
        table[stage_path + "/routesettings/(?P<route_key>.+)$"] = ApiGatewayV2Response.dispatch
        table[stage_path + "/accesslogsettings$"] = ApiGatewayV2Response.dispatch
    ApiGatewayV2Response._apigw_guard_stage_updates = True


class ConflictException(APIGatewayV2Error):
    code = 409

    def __init__(self, message):
        super().__init__("ConflictException", message)


# An API Gateway v2 resource ARN that names an API or one of its stages.
HTTP_API_ARN = re.compile(r"^arn:[^:]+:apigateway:[^:]+::/apis/(?P<api>[^/]+)(?:/stages/(?P<stage>[^/]+))?$")


def page_params(self):
    """A v2 listing's `maxResults` (None: all) and `nextToken` (here an offset), checked."""
    size = (self.querystring.get("maxResults") or [None])[0]
    token = (self.querystring.get("nextToken") or [None])[0]
    if size is not None and not (str(size).isdigit() and int(size) > 0):
        raise BadRequestException(f"Invalid maxResults {size}: it must be a positive integer")
    if token is not None and not str(token).isdigit():
        raise BadRequestException(f"Invalid nextToken {token}")
    return (None if size is None else int(size)), int(token or 0)


def page_of(self, items):
    """One page of a v2 listing and the nextToken for the next one (None on the last).

    AWS documents no default page size for GetApis, GetStages or GetRoutes, so without
    maxResults everything is one page (moto's answer); with it, a page holds at most that many
    and `nextToken` is set while more remain. The BadRequestException messages are ours.
    """
    size, start = page_params(self)
    if start > len(items):
        raise BadRequestException(f"Invalid nextToken {start}")
    end = len(items) if size is None else start + size
    return items[start:end], (str(end) if end < len(items) else None)


def add_http_api_reads():
    """Makes moto's API Gateway v2 answer the listings, creations and tag calls as AWS does.

    Where moto differs from AWS (API reference, API Gateway v2):
    - GetApis, GetStages and GetRoutes ignore maxResults and never answer nextToken; here they
      page (see `page_of`).
    - Api and Route carry every member, absent ones as JSON null; AWS leaves them out.
    - A WebSocket API's apiEndpoint is `wss://...`, an HTTP API's `https://...`; moto gives both
      https. Api.ipAddressType (CreateApi's, "ipv4" when not given) is missing in moto.
    - CreateApi, CreateStage, CreateRoute and TagResource answer 201 and UntagResource 204 (the
      model's responseCode); moto answers 200.
    - CreateStage of a stage name the API already has replaces that stage in moto; AWS answers
      ConflictException (409), as it does for CreateRoute of a route key the API already has
      (moto adds a second route). The messages are ours.
    - TagResource, UntagResource and GetTags on the ARN of a missing API answer
      NotFoundException; moto tags, untags and lists any ARN. A stage's ARN
      (`arn:aws:apigateway:REGION::/apis/ID/stages/NAME`) is a taggable resource too (its tags
      are GetStage's Tags); moto answers it 404 without a JSON body.
    """
    if getattr(ApiGatewayV2Response, "_apigw_guard_http_api_reads", False):
        return
    api_class, route_class = apigatewayv2_models.Api, apigatewayv2_models.Route
    api_json, route_json = api_class.to_json, route_class.to_json

    def api_to_json(self):
        out = {k: v for k, v in api_json(self).items() if v is not None}
        if self.protocol_type == "WEBSOCKET":
            out["apiEndpoint"] = out["apiEndpoint"].replace("https://", "wss://", 1)
        out["ipAddressType"] = getattr(self, "ip_address_type", None) or "ipv4"
        return out

    def route_to_json(self):
        return {k: v for k, v in route_json(self).items() if v is not None}

    def paged(name):
        original = getattr(ApiGatewayV2Response, name)

        def call(self):
            page_params(self)  # checked before the API is looked up
            status, headers, body = original(self)
            answer = json.loads(body)
            answer["items"], token = page_of(self, answer["items"])
            if token:
                answer["nextToken"] = token
            return status, headers, json.dumps(answer)

        setattr(ApiGatewayV2Response, name, call)

    def created(name, check=None):
        original = getattr(ApiGatewayV2Response, name)

        def call(self):
            if check is not None:
                check(self, json.loads(self.body or "{}"))
            status, headers, body = original(self)
            return 201, {**headers, "status": 201}, body

        setattr(ApiGatewayV2Response, name, call)

    def check_stage(self, body):
        if body.get("stageName") in api_of(self).stages:
            raise ConflictException(f"Stage {body['stageName']} already exists")

    def check_route(self, body):
        if any(r.route_key == body.get("routeKey") for r in api_of(self).routes.values()):
            raise ConflictException(f"Route with key {body.get('routeKey')} already exists for this API")

    create_api = ApiGatewayV2Response.create_api

    def create_api_with_ip_address_type(self):
        status, headers, body = create_api(self)
        api = self.apigatewayv2_backend.get_api(json.loads(body)["apiId"])
        api.ip_address_type = json.loads(self.body or "{}").get("ipAddressType") or "ipv4"
        return status, headers, json.dumps(api.to_json())

    def tagged(self):
        """("api", Api) or ("stage", Stage) for an API or stage ARN (404 when missing), else None."""
        found = HTTP_API_ARN.match(unquote(self.path.split("/tags/", 1)[1]))
        if not found:
            return None
        api = self.apigatewayv2_backend.get_api(found["api"])
        if found["stage"] is None:
            return "api", api
        return "stage", api.get_stage(unquote(found["stage"]))

    def tags_of(self, kind, resource):
        if kind == "api":
            return self.apigatewayv2_backend.get_tags(resource.arn)
        return dict(resource.tags or {})

    def with_tagged(name, on_resource):
        original = getattr(ApiGatewayV2Response, name)

        def call(self):
            found = tagged(self)
            return original(self) if found is None else on_resource(self, *found)

        setattr(ApiGatewayV2Response, name, call)

    def tag(self, kind, resource):
        tags = json.loads(self.body or "{}").get("tags") or {}
        if kind == "api":
            self.apigatewayv2_backend.tag_resource(resource.arn, tags)
        else:
            resource.tags = {**(resource.tags or {}), **tags}
        return 201, {"status": 201}, "{}"

    def untag(self, kind, resource):
        keys = self.querystring.get("tagKeys") or []
        if kind == "api":
            self.apigatewayv2_backend.untag_resource(resource.arn, keys)
        else:
            resource.tags = {k: v for k, v in (resource.tags or {}).items() if k not in keys}
        return 204, {"status": 204}, ""

    api_class.to_json = api_to_json
    route_class.to_json = route_to_json
    for name in ("get_apis", "get_stages", "get_routes"):
        paged(name)
    ApiGatewayV2Response.create_api = create_api_with_ip_address_type
    created("create_api")
    created("create_stage", check_stage)
    created("create_route", check_route)
    with_tagged("get_tags", lambda self, kind, r: (200, {}, json.dumps({"tags": tags_of(self, kind, r)})))
    with_tagged("tag_resource", tag)
    with_tagged("untag_resource", untag)
    # The SDK sends the ARN percent-encoded; the server decodes its slashes before routing.
    stage_tags = "{0}/v2/tags/(?P<resource_arn_pt1>[^/]+)/apis/(?P<api_id>[^/]+)/stages/(?P<stage_name>[^/]+)$"
    for table in (apigateway_urls.url_paths, apigatewayv2_urls.url_paths):
        table[stage_tags] = ApiGatewayV2Response.dispatch
    ApiGatewayV2Response._apigw_guard_http_api_reads = True


# PutRetentionPolicy's retentionInDays: "Possible values are: 1, 3, 5, ... and 3653" (API
# reference, CloudWatch Logs).
RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)


def add_log_group_checks():
    """Makes moto's CloudWatch Logs treat log groups as AWS does. Where moto differs:

    - PutRetentionPolicy takes any number of days; AWS takes only RETENTION_DAYS and answers
      InvalidParameterException ("1 validation error detected: Value '2' at 'retentionInDays'
      failed to satisfy constraint: Member must satisfy enum value set: [...]").
    - TagResource, UntagResource and ListTagsForResource take a log group's ARN without the
      ":*" DescribeLogGroups' `arn` ends with (its `logGroupArn`); AWS answers the ":*" form
      "ValidationException: Invalid resourceArn", where moto lists no tags (and tags an ARN that
      matches nothing). A log group ARN naming no log group is ResourceNotFoundException in AWS;
      moto tags and lists it.
    - DeleteLogGroup leaves the group's tags in moto, so a new group of the same name had them.
    - DescribeLogGroups' logGroupClass (CreateLogGroup's, STANDARD by default) is missing in
      moto, and it answers "nextToken": null on the last page where AWS leaves it out.
    """
    if getattr(LogsResponse, "_apigw_guard_log_groups", False):
        return
    put_retention = LogsResponse.put_retention_policy
    create = LogsResponse.create_log_group
    describe = LogsResponse.describe_log_groups
    delete = LogsBackend.delete_log_group
    describe_dict = logs_models.LogGroup.to_describe_dict

    def put_retention_policy(self):
        days = self._get_param("retentionInDays")
        if type(days) is not int or days not in RETENTION_DAYS:
            raise LogsInvalidParameterException(
                constraint=f"Member must satisfy enum value set: [{', '.join(map(str, RETENTION_DAYS))}]",
                parameter="retentionInDays",
                value=days,
            )
        return put_retention(self)

    def create_log_group(self):
        answer = create(self)
        group = self.logs_backend.groups[self._get_param("logGroupName")]
        group.log_group_class = self._get_param("logGroupClass") or "STANDARD"
        return answer

    def describe_log_groups(self):
        answer = json.loads(describe(self))
        if answer.get("nextToken") is None:
            answer.pop("nextToken", None)
        return json.dumps(answer)

    def to_describe_dict(self):
        return {**describe_dict(self), "logGroupClass": getattr(self, "log_group_class", "STANDARD")}

    def delete_log_group(self, log_group_name):
        group = self.groups.get(log_group_name)
        delete(self, log_group_name)
        self.tagger.delete_all_tags_for_resource(group.arn)

    def checking_arn(name):
        original = getattr(LogsResponse, name)

        def call(self):
            arn = self._get_param("resourceArn") or ""
            if ":log-group:" in arn:
                if arn.endswith(":*"):
                    raise LogsValidationException("Invalid resourceArn")
                group = self.logs_backend.groups.get(arn.split(":log-group:", 1)[1])
                if group is None or group.arn != arn:
                    raise LogsResourceNotFoundException()
            return original(self)

        setattr(LogsResponse, name, call)

    LogsResponse.put_retention_policy = put_retention_policy
    LogsResponse.create_log_group = create_log_group
    LogsResponse.describe_log_groups = describe_log_groups
    logs_models.LogGroup.to_describe_dict = to_describe_dict
    LogsBackend.delete_log_group = delete_log_group
    for name in ("tag_resource", "untag_resource", "list_tags_for_resource"):
        checking_arn(name)
    LogsResponse._apigw_guard_log_groups = True


# ALARM(name), OK("name") or INSUFFICIENT_DATA(arn) in a composite alarm's AlarmRule (names may be
# quoted; an ARN names the alarm after ":alarm:"). AT_LEAST(...) is not read.
RULE_ALARM = re.compile(r'\b(?:ALARM|OK|INSUFFICIENT_DATA)\s*\(\s*(?:"([^"]+)"|([^()"\s]+))\s*\)')


def alarm_name(reference):
    return reference.split(":alarm:", 1)[1] if ":alarm:" in reference else reference


def rule_alarm_names(rule):
    """The alarms a composite alarm's rule names."""
    return [alarm_name(quoted or bare) for quoted, bare in RULE_ALARM.findall(rule or "")]


def add_composite_alarms():
    """Adds CloudWatch PutCompositeAlarm to moto and makes DescribeAlarms and DeleteAlarms
    treat composite alarms as AWS documents (quotes from the API reference):

    - PutCompositeAlarm: a new alarm starts in INSUFFICIENT_DATA; an update "completely
      overwrites the previous configuration" but leaves the state unchanged, and ignores Tags
      (TagResource changes them). Every alarm the rule names must exist (AWS: ValidationError
      "Could not save the composite alarm as alarms [...] in the alarm rule do not exist"), and
      so must the ActionsSuppressor, whose wait and extension periods are then required.
    - DescribeAlarms: "If you omit [AlarmTypes], only metric alarms are returned, even if
      composite alarms exist"; ParentsOfAlarmName and ChildrenOfAlarmName take no other filter.
    - DeleteAlarms: "no more than one composite alarm" per call; and "you can't delete any
      [alarm] ... [while] there is still a composite alarm that depends on [it]": an alarm named
      in the rule of a composite alarm that is not deleted in the same call is refused with
      AWS's ValidationError "Cannot delete X as there are composite alarm(s) depending on
      them." and nothing is deleted.
    """
    if getattr(CloudWatchResponse, "_apigw_guard_composite_alarms", False):
        return
    describe = CloudWatchResponse.describe_alarms
    delete = CloudWatchResponse.delete_alarms

    def put_composite_alarm(self):
        backend = self.cloudwatch_backend
        name, rule = self._get_param("AlarmName"), self._get_param("AlarmRule")
        missing = [n for n in rule_alarm_names(rule) if n not in backend.alarms]
        if missing:
            raise CloudWatchValidationError(
                f"Could not save the composite alarm as alarms {missing} in the alarm rule do not exist"
            )
        suppressor = self._get_param("ActionsSuppressor")
        wait = self._get_param("ActionsSuppressorWaitPeriod")
        extension = self._get_param("ActionsSuppressorExtensionPeriod")
        if suppressor is not None:
            if alarm_name(suppressor) not in backend.alarms:
                raise CloudWatchValidationError(f"ActionsSuppressor {suppressor} does not exist")
            if wait is None or extension is None:
                raise CloudWatchValidationError(
                    "ActionsSuppressorWaitPeriod and ActionsSuppressorExtensionPeriod are "
                    "required with ActionsSuppressor"
                )
        previous = backend.alarms.get(name)
        alarm = backend.put_metric_alarm(
            name=name,
            namespace=None,
            metric_name=None,
            comparison_operator=None,
            evaluation_periods=None,
            period=None,
            threshold=None,
            statistic=None,
            description=self._get_param("AlarmDescription"),
            dimensions=[],
            alarm_actions=self._get_param("AlarmActions", []),
            ok_actions=self._get_param("OKActions", []),
            insufficient_data_actions=self._get_param("InsufficientDataActions", []),
            actions_enabled=self._get_bool_param("ActionsEnabled"),
            rule=rule,
            tags=None if previous else self._get_param("Tags", []),
        )
        if previous is None:
            alarm.state_value = "INSUFFICIENT_DATA"
        else:
            state = ("state_value", "state_reason", "state_reason_data", "state_updated_timestamp")
            for kept in (*state, "history"):
                setattr(alarm, kept, getattr(previous, kept))
        alarm.actions_suppressor = suppressor
        alarm.actions_suppressor_wait_period = wait if suppressor is not None else None
        alarm.actions_suppressor_extension_period = extension if suppressor is not None else None
        return EmptyResult()

    def describe_alarms(self):
        parents_of = self._get_param("ParentsOfAlarmName")
        children_of = self._get_param("ChildrenOfAlarmName")
        if parents_of or children_of:
            others = ("AlarmNames", "AlarmNamePrefix", "AlarmTypes", "StateValue", "ActionPrefix")
            if (parents_of and children_of) or any(self._get_param(p) for p in others):
                raise CloudWatchValidationError(
                    "ParentsOfAlarmName and ChildrenOfAlarmName cannot be combined with other filters"
                )
            alarms = self.cloudwatch_backend.alarms
            if parents_of:
                found = [a for a in alarms.values() if parents_of in rule_alarm_names(a.rule)]
            else:
                parent = alarms.get(children_of)
                names = rule_alarm_names(parent.rule) if parent is not None else []
                found = [alarms[n] for n in dict.fromkeys(names) if n in alarms]
            return ActionResult(
                {
                    "MetricAlarms": [a for a in found if a.rule is None],
                    "CompositeAlarms": [a for a in found if a.rule is not None],
                }
            )
        result = describe(self)
        types = self._get_param("AlarmTypes") or ["MetricAlarm"]
        for kind, member in (("MetricAlarm", "MetricAlarms"), ("CompositeAlarm", "CompositeAlarms")):
            if kind not in types:
                result.result[member] = []
        return result

    def delete_alarms(self):
        alarms = self.cloudwatch_backend.alarms
        names = set(self._get_param("AlarmNames", []))
        composites = [n for n in names if n in alarms and alarms[n].rule is not None]
        if len(composites) > 1:
            raise CloudWatchValidationError(
                f"Only one composite alarm can be deleted per call; {len(composites)} were given"
            )
        depended_on = sorted(
            {
                child
                for alarm in alarms.values()
                if alarm.rule is not None and alarm.name not in names
                for child in rule_alarm_names(alarm.rule)
                if child in names
            }
        )
        if depended_on:
            raise CloudWatchValidationError(
                f"Cannot delete {','.join(depended_on)} as there are composite alarm(s) depending on them."
            )
        return delete(self)

    CloudWatchResponse.put_composite_alarm = put_composite_alarm
    CloudWatchResponse.describe_alarms = describe_alarms
    CloudWatchResponse.delete_alarms = delete_alarms
    CloudWatchResponse._apigw_guard_composite_alarms = True


# AWS's limit on a metric-math alarm's Metrics (CloudWatch quotas: 10 metrics per alarm).
MAX_ALARM_METRICS = 10

# PutMetricAlarm parameters AWS refuses together with Metrics (API reference, Metrics).
SINGLE_METRIC_PARAMETERS = (
    "Namespace", "MetricName", "Dimensions", "Period", "Unit", "Statistic", "ExtendedStatistic",
)


def returns_data(query):
    """MetricDataQuery.ReturnData: "If you omit this, the default of true is used"."""
    value = query.get("ReturnData")
    return value is None or value is True or str(value).lower() == "true"


def add_metric_math_checks():
    """moto's PutMetricAlarm stores whatever Metrics it is given; AWS refuses (ValidationError,
    and nothing is stored):

    - more than 10 queries in Metrics (CloudWatch's quota for a metric-math alarm);
    - Metrics together with Namespace, MetricName, Dimensions, Period, Unit, Statistic or
      ExtendedStatistic ("If you use the Metrics parameter, you cannot include ... in the same
      operation");
    - a Metrics list where not exactly one query has ReturnData true, omitted counting as true
      (AWS: "Exactly one element of the metrics list should return data."). An anomaly-detection
      alarm (ThresholdMetricId) returns two and is not checked here.

    The messages other than ReturnData's are ours, not AWS's exact text.
    """
    if getattr(CloudWatchResponse, "_apigw_guard_metric_math", False):
        return
    put = CloudWatchResponse.put_metric_alarm

    def put_metric_alarm(self):
        metrics = self._get_param("Metrics") or []
        if metrics:
            if len(metrics) > MAX_ALARM_METRICS:
                raise CloudWatchValidationError(
                    f"The collection Metrics must not have a size greater than {MAX_ALARM_METRICS}."
                )
            given = [p for p in SINGLE_METRIC_PARAMETERS if self._get_param(p) not in (None, [], "")]
            if given:
                raise CloudWatchValidationError(
                    f"Metrics cannot be combined with {', '.join(given)}; "
                    "give each metric in the Metrics list instead"
                )
            if self._get_param("ThresholdMetricId") is None and sum(map(returns_data, metrics)) != 1:
                raise CloudWatchValidationError("Exactly one element of the metrics list should return data.")
        return put(self)

    CloudWatchResponse.put_metric_alarm = put_metric_alarm
    CloudWatchResponse._apigw_guard_metric_math = True


def add_usage_plan_rate_as_double():
    """UpdateUsagePlan `replace /throttle/rateLimit` keeps the value a double, as AWS's model
    types it (moto converts it with int(): 123.5 fails with 500)."""
    if getattr(UsagePlan, "_apigw_guard_rate_as_double", False):
        return
    apply = UsagePlan.apply_patch_operations

    def apply_patch_operations(self, patch_operations):
        rest = []
        for op in patch_operations:
            if op.get("op") in ("add", "replace") and op.get("path") == "/throttle/rateLimit":
                try:
                    self.throttle["rateLimit"] = float(op["value"])
                except (TypeError, ValueError):
                    raise RestBadRequestException(f"Invalid rateLimit {op.get('value')!r}")
            else:
                rest.append(op)
        apply(self, rest)

    UsagePlan.apply_patch_operations = apply_patch_operations
    UsagePlan._apigw_guard_rate_as_double = True


class CborBridge:
    """WSGI middleware: RPC v2 CBOR in, JSON 1.0 to the wrapped app, CBOR back out. The
    wrapped app checks each request as AWS checks it first (`conformance`)."""

    def __init__(self, app, models=None):
        add_percentiles()
        add_rest_api_tags()
        add_rest_api_deployments()
        add_http_api_stage_updates()
        add_v2_deployments()
        add_http_api_reads()
        add_log_group_checks()
        add_composite_alarms()
        add_metric_math_checks()
        add_usage_plan_rate_as_double()
        self.app = RequestChecker(app)
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
        status, headers, answer = call_app(self.app, inner)
        payload = json.loads(answer) if answer.strip() else {}
        if status.startswith("2") and match["operation"] in PAGED:
            payload = page(match["operation"], request, payload)

        if status.startswith("2"):
            out = to_cbor(operation.output_shape, payload) if operation.output_shape else {}
        else:
            out = error_body(payload)
        kept = [
            (name, value)
            for name, value in headers
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
