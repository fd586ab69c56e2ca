"""The alarm canary: the platform's own band presses SOS through the whole alarm path, every
minute, and the console must see its alarm closed by the engine within the timeout.

- band.py: the canary band in the registry (its serial, a fresh secret per console start).
- kind.py: the gateway turns the canary band's SOS into a `canary` alarm.
- echo.py: the engine closes canary alarms at once, and purges old ones.
- opaska/canary_probe.py (a floor up: it drives the simulator's band over the gateway's topics): the
  console presses, waits for the closed alarm on its live feed, and times it.
- lost.py: a canary not through in time raises `canary_lost` for the supervisor; the next one
  through clears it.
"""
