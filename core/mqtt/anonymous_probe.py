"""Does a broker let in a client that gives no username and password?

On such a broker anyone who can reach it can raise an alarm as any band, read every band's
messages, and connect with the gateway's client id (Mosquitto hands a client id to whoever
connects last). opaska refuses to start on one (`[mqtt] allow_insecure_broker` for a lab).
"""

from __future__ import annotations

import secrets
from dataclasses import replace

from core.mqtt.client import AsyncMqttClient, MqttRefused, Protocol
from core.mqtt.endpoint import MqttEndpoint


async def admits_anonymous(endpoint: MqttEndpoint, *, protocol: Protocol, timeout_s: float = 10.0) -> bool:
    """True if an anonymous CONNECT is accepted; MqttError if the broker cannot be reached or hangs up."""
    anonymous = replace(endpoint, username=None, password=None)
    # A random client id: the probe must never be mistaken for, or displace, a real client.
    probe = AsyncMqttClient(anonymous, client_id=f"opaska-probe-{secrets.token_hex(6)}", protocol=protocol)
    try:
        await probe.connect(timeout=timeout_s)
    except MqttRefused:
        return False
    await probe.disconnect()
    return True
