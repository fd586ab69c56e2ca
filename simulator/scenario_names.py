"""The simulator's scenario names, without the simulator: `opaska --help` lists them without
importing MQTT clients (simulator/scenarios.py checks that the two agree)."""

SCENARIO_NAMES = (
    "band_silent",
    "battery_drains",
    "fall_cancel",
    "fall_no_cancel",
    "normal_day",
    "reconnect_storm",
    "repeated_presses",
    "sos_storm",
    "strap_off",
)
