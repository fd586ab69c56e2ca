"""MQTT on asyncio: paho-mqtt 2.x driven from the event loop, with manual acks."""
