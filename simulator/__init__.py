"""Virtual bands over real MQTT, for tests, demos and benchmarks."""
