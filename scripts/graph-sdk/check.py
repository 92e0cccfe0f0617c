"""Graph's own Python SDK (msgraph-beta-sdk), unchanged, against notify's gateway.

Three notifications are created with a plain POST (as a service would send
them), then the SDK lists them (two a page, following @odata.nextLink), gets
one by the id the 201's Location names, patches its userActionState, deletes
it, and sees it gone (404 as the SDK's ODataError). The only changes from a
client of graph.microsoft.com are the base URL and the CA to trust.
Prints one line per check; exits 1 on the first failure.
"""
import argparse
import asyncio
import json
import ssl
import sys
import urllib.request

import httpx
from kiota_abstractions.authentication import AccessTokenProvider, AllowedHostsValidator, BaseBearerTokenAuthenticationProvider
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph_beta import GraphRequestAdapter, GraphServiceClient
from msgraph_beta import graph_request_adapter as beta_adapter
from msgraph_beta.generated.models.notification import Notification
from msgraph_beta.generated.models.o_data_errors.o_data_error import ODataError
from msgraph_beta.generated.users.item.notifications.notifications_request_builder import NotificationsRequestBuilder
from msgraph_core import GraphClientFactory

APP = "graphnotifications.sample.windows.com"


class Token(AccessTokenProvider):
    """The user's notify bearer token, as an Azure identity would hand out Graph's."""

    def __init__(self, token: str, host: str):
        self.token = token
        self.validator = AllowedHostsValidator([host])

    async def get_authorization_token(self, uri: str, additional_authentication_context=None) -> str:
        return self.token

    def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
        return self.validator


def check(ok: bool, what: str) -> None:
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        sys.exit(1)


def post(base: str, ca: str, token: str, uns: str, title: str) -> tuple[str, str]:
    body = json.dumps({"targetHostName": APP, "payload": {"visualContent": {"title": title}}, "groupName": "sdk"}).encode()
    request = urllib.request.Request(f"{base}/beta/me/notifications", data=body, method="POST", headers={
        "Authorization": f"Bearer {token}", "X-UNS-ID": uns, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, context=ssl.create_default_context(cafile=ca), timeout=10) as answer:
        entity = json.loads(answer.read())
        return entity["id"], answer.headers["Location"]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--uns-id", required=True)
    args = parser.parse_args()
    host = httpx.URL(args.base).host

    created = [post(args.base, args.ca, args.token, args.uns_id, f"sdk {i}") for i in range(3)]
    ids = [id for id, _ in created]

    # The SDK's own middleware and options (its /me replacement among them), on a client that trusts our CA.
    http = GraphClientFactory.create_with_default_middleware(
        client=httpx.AsyncClient(verify=args.ca, timeout=10), options=beta_adapter.options)
    adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(Token(args.token, host)), client=http)
    adapter.base_url = f"{args.base}/beta"
    client = GraphServiceClient(request_adapter=adapter)
    # In msgraph-beta-sdk 1.66.0 `me` is a method, not a property (GraphServiceClient overrides the
    # generated property with a plain def); it maps /users/me-token-to-replace to /me in its middleware.
    me = client.me() if callable(client.me) else client.me

    top = RequestConfiguration(query_parameters=NotificationsRequestBuilder.NotificationsRequestBuilderGetQueryParameters(top=2))
    page = await me.notifications.get(request_configuration=top)
    listed = [n.id for n in page.value]
    check(listed == [ids[2], ids[1]], f"me.notifications.get(top=2) lists the newest two: {listed}")
    check(bool(page.odata_next_link), f"the page has an @odata.nextLink: {page.odata_next_link}")
    rest = await me.notifications.with_url(page.odata_next_link).get()
    check([n.id for n in rest.value] == [ids[0]] and not rest.odata_next_link, "with_url(nextLink).get() lists the oldest, and ends")

    location_id = created[0][1].rsplit("/", 1)[-1]
    entry = await me.notifications.by_notification_id(location_id).get()
    check(entry.id == ids[0] and entry.group_name == "sdk", f"by_notification_id(Location's id).get(): {entry.id}")
    check(entry.additional_data.get("userActionState") == "noInteraction" and entry.additional_data.get("isRead") is False,
          f"the entity carries isRead and userActionState: {entry.additional_data}")

    change = Notification(additional_data={"userActionState": "dismissed"})
    patched = await me.notifications.by_notification_id(ids[0]).patch(change)
    check(patched.additional_data.get("userActionState") == "dismissed", "patch(userActionState) answers the changed entity")

    await me.notifications.by_notification_id(ids[0]).delete()
    check(True, "by_notification_id(id).delete()")
    try:
        await me.notifications.by_notification_id(ids[0]).get()
        check(False, "a deleted notification is gone")
    except ODataError as error:
        check(error.response_status_code == 404 and error.error.code == "itemNotFound",
              f"a deleted notification is gone: {error.response_status_code} {error.error.code}")
    after = await me.notifications.get()
    check([n.id for n in after.value] == [ids[2], ids[1]], "the list no longer holds it")
    print("graph-sdk: passed (msgraph-beta-sdk list, nextLink, get, patch, delete)")


asyncio.run(main())
