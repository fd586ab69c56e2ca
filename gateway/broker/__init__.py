"""Broker integration: the embedded amqtt broker and, later, auth for Mosquitto and EMQX."""
