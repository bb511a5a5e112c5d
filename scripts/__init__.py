"""What a developer runs on one machine: `make demo-bus` (demo_bus.py), the system packages, and
the local services that the demo, the tests and the benchmarks start: pcscd with the virtual
reader (pcscd.py) and a throwaway PostgreSQL (postgres.py)."""
