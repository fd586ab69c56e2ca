"""Band traffic: what bands sent (`band_message`), what the gateway refused (`band_dead_letter`) and
what waits to go to a band (`band_downlink`). The gateway writes most of it; the registry (device
health, RODO), the alarm centre (an alarm's first message, "help is coming") and the console read or
add to it, so it lives below them all."""
