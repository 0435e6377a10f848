"""Starts moto's server on a free loopback port for tether's integration tests.

Prints `PORT <n>` on stdout once the server accepts connections, then serves until
killed or until its parent (the test process) goes away.

Corrections of moto gaps (each small, each making moto agree with real AWS):

1. (_patch_bucket_notifications) GetBucketNotificationConfiguration: moto stores an EventBridgeConfiguration (and
   delivers events through it) but never returns it, so a bucket that sends events to
   EventBridge would always look drifted. We add the empty
   `<EventBridgeConfiguration/>` element that AWS returns when the setting is on.
   For a bucket with no configuration at all, moto also names the XML root after the
   legacy GetBucketNotification operation; AWS returns `<NotificationConfiguration/>`.
2. (_patch_versioning_root) GetBucketVersioning: moto 5.2.5 names the XML root `GetBucketVersioningResponse`;
   AWS (and the S3 model) name it `VersioningConfiguration`. boto3 ignores the root
   name, aws-sdk-rust does not, so every versioned bucket would be unreadable.
3. (_patch_create_bucket_tags) CreateBucket: moto ignores the tags of
   CreateBucketConfiguration, which AWS applies (tether sends them so that a bucket is
   never without its ownership tags, even when apply is interrupted right after creating
   it). We apply them.
4. (_patch_forwarded_resources) A rule whose target is an event bus: moto puts the event
   on that bus without its `resources`. AWS forwards the event with them (CodePipeline
   finds a CodeCommit repository in another account by the ARN the forwarded event
   carries, and rules on the receiving bus match it), so a rule there matching the
   repository would never fire. We pass them along.

docs/testing.md lists the same corrections; a test checks that the two agree.
"""

import os
import socket
import sys
import threading
import time

from moto.core.responses import ActionResult
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.s3.responses import S3Response


def _patch_bucket_notifications():
    original = S3Response.get_bucket_notification

    def get_bucket_notification(self):
        config = self.backend.get_bucket_notification_configuration(self.bucket_name)
        serialized = self.serialized

        def with_eventbridge(result):
            if (
                isinstance(result, ActionResult)
                and isinstance(result.result, dict)
                and config is not None
                and config.event_bridge is not None
            ):
                result.result["EventBridgeConfiguration"] = {}
            return serialized(result)

        self.serialized = with_eventbridge
        self.data["Action"] = "GetBucketNotificationConfiguration"
        try:
            return original(self)
        finally:
            del self.serialized

    S3Response.get_bucket_notification = get_bucket_notification


def _patch_versioning_root():
    original = S3Response.get_bucket_versioning

    def get_bucket_versioning(self):
        status, headers, body = original(self)
        if isinstance(body, bytes):
            body = body.decode()
        body = body.replace("GetBucketVersioningResponse", "VersioningConfiguration")
        return status, headers, body

    S3Response.get_bucket_versioning = get_bucket_versioning


def _patch_create_bucket_tags():
    import xmltodict

    original = S3Response._bucket_response_put

    def _bucket_response_put(self, request, bucket_name, querystring):
        result = original(self, request, bucket_name, querystring)
        if not querystring and self.body:
            try:
                config = xmltodict.parse(self.body).get("CreateBucketConfiguration") or {}
            except Exception:
                config = {}
            tags = (config.get("Tags") or {}).get("Tag") or []
            if isinstance(tags, dict):
                tags = [tags]
            if tags:
                self.backend.put_bucket_tagging(bucket_name, {t["Key"]: t["Value"] for t in tags})
        return result

    S3Response._bucket_response_put = _bucket_response_put


def _patch_forwarded_resources():
    import contextvars

    from moto.events.models import EventsBackend, Rule

    forwarded = contextvars.ContextVar("forwarded_resources", default=None)
    send_to_targets, put_events = Rule.send_to_targets, EventsBackend.put_events

    def send(self, original_event, *args, **kwargs):
        token = forwarded.set(original_event.get("resources") or [])
        try:
            return send_to_targets(self, original_event, *args, **kwargs)
        finally:
            forwarded.reset(token)

    def put(self, events):
        resources = forwarded.get()
        if resources is not None:
            events = [{"Resources": resources, **e} for e in events]
        return put_events(self, events)

    Rule.send_to_targets, EventsBackend.put_events = send, put


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    _patch_bucket_notifications()
    _patch_versioning_root()
    _patch_create_bucket_tags()
    _patch_forwarded_resources()
    port = int(os.environ.get("TETHER_EMULATOR_PORT") or _free_port())
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    print(f"PORT {port}", flush=True)
    parent = os.getppid()

    # Stop when the test process that started us is gone: never outlive the tests.
    def watch_parent():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    # The demo (scripts/demo) leaves the emulator running for the user on purpose.
    if not os.environ.get("TETHER_EMULATOR_DETACHED"):
        threading.Thread(target=watch_parent, daemon=True).start()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
