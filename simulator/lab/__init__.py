"""What a lab run of opaska needs on one machine: free ports, the platform as a process, a Mosquitto
with the project's config, staff accounts that can log in. The benchmarks use it, and the tests
build on it (tests/support adds only what is pytest's: skipping when a program is missing)."""
