"""The ``durableClient`` binding value, built as the Durable extension builds it.

The extension (BindingHelper.DurableOrchestrationClientToString) hands an out-of-process
worker a JSON string: taskHubName, connectionName, creationUrls, managementUrls (the instance
id is the placeholder ``INSTANCEID``), baseUrl, requiredQueryStringParameters and rpcBaseUrl.
The SDK's ``durable_client_input`` decorator turns that string into a
DurableOrchestrationClient, which calls ``rpcBaseUrl`` for every operation and copies
``managementUrls`` into check-status responses.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    from .metadata import FunctionInfo

#: What the extension puts where the instance id goes in the binding's managementUrls.
INSTANCE_ID_PLACEHOLDER = "INSTANCEID"
#: The extension's default connection name for the Azure Storage provider.
DEFAULT_CONNECTION = "Storage"
WEBHOOK_PATH = "/runtime/webhooks/durabletask"
RPC_PATH = "/durabletask/"


@dataclass(frozen=True)
class DurableEndpoints:
    """Where this host serves the Durable APIs, and the task hub they manage."""

    #: Origin of this host, e.g. ``http://127.0.0.1:7071`` (no trailing slash).
    origin: str
    hub_name: str
    #: The extension's system key; ``code=`` of every webhook URL (not enforced locally).
    system_key: str
    connection: str = DEFAULT_CONNECTION

    @property
    def webhook_base(self) -> str:
        """``{origin}/runtime/webhooks/durabletask`` (the extension's notification URI)."""
        return self.origin + WEBHOOK_PATH

    @property
    def rpc_base(self) -> str:
        """The RPC endpoint the SDK client calls (trailing slash, as the SDK expects)."""
        return self.origin + RPC_PATH

    @property
    def universal_query(self) -> str:
        """Query the extension appends to every webhook URL (its system key)."""
        return "code=" + quote(self.system_key, safe="")

    def query_suffix(self, hub_name: str | None = None, connection: str | None = None) -> str:
        """``taskHub=…&connection=…&code=…`` as in the extension's management URLs."""
        hub = quote(hub_name or self.hub_name, safe="")
        conn = quote(connection or self.connection, safe="")
        return f"taskHub={hub}&connection={conn}&{self.universal_query}"

    def management_urls(
        self,
        instance_id: str,
        hub_name: str | None = None,
        connection: str | None = None,
        *,
        origin: str | None = None,
    ) -> dict[str, str]:
        """The HttpManagementPayload for ``instance_id`` (also the check-status body)."""
        base = (origin or self.origin) + WEBHOOK_PATH
        # The extension URL-encodes the id, except for the binding's placeholder.
        encoded = (
            instance_id if instance_id == INSTANCE_ID_PLACEHOLDER else quote(instance_id, safe="")
        )
        prefix = f"{base}/instances/{encoded}"
        suffix = self.query_suffix(hub_name, connection)
        return {
            "id": instance_id,
            "statusQueryGetUri": f"{prefix}?{suffix}",
            "sendEventPostUri": f"{prefix}/raiseEvent/{{eventName}}?{suffix}",
            "terminatePostUri": f"{prefix}/terminate?reason={{text}}&{suffix}",
            "rewindPostUri": f"{prefix}/rewind?reason={{text}}&{suffix}",
            "purgeHistoryDeleteUri": f"{prefix}?{suffix}",
            "restartPostUri": f"{prefix}/restart?{suffix}",
            "suspendPostUri": f"{prefix}/suspend?reason={{text}}&{suffix}",
            "resumePostUri": f"{prefix}/resume?reason={{text}}&{suffix}",
        }

    def creation_urls(self) -> dict[str, str]:
        """The HttpCreationPayload (start URLs with the SDK's placeholders)."""
        prefix = f"{self.webhook_base}/orchestrators/{{functionName}}[/{{instanceId}}]"
        return {
            "createNewInstancePostUri": f"{prefix}?{self.universal_query}",
            "createAndWaitOnNewInstancePostUri": (
                f"{prefix}?timeout={{timeoutInSeconds}}&pollingInterval={{intervalInSeconds}}"
                f"&{self.universal_query}"
            ),
        }


def client_binding_json(
    endpoints: DurableEndpoints, task_hub: str | None = None, connection_name: str | None = None
) -> str:
    """The JSON string a ``durableClient`` parameter receives.

    ``task_hub`` / ``connection_name`` are the binding's own ``taskHub`` / ``connectionName``
    (None when the decorator did not set them: the host.json hub and default connection).
    """
    payload = {
        "taskHubName": task_hub or endpoints.hub_name,
        "connectionName": connection_name,
        "creationUrls": endpoints.creation_urls(),
        "managementUrls": endpoints.management_urls(
            INSTANCE_ID_PLACEHOLDER, task_hub, connection_name
        ),
        "baseUrl": endpoints.webhook_base,
        "requiredQueryStringParameters": endpoints.universal_query,
        "rpcBaseUrl": endpoints.rpc_base,
    }
    return json.dumps(payload)


def client_arguments(endpoints: DurableEndpoints, function: FunctionInfo) -> dict[str, str]:
    """The value of each ``durableClient`` binding of ``function``, by parameter name."""
    return {
        client.name: client_binding_json(
            endpoints, client.raw.get("taskHub"), client.raw.get("connectionName")
        )
        for client in function.durable_clients
    }
