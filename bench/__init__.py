"""Benchmarks of the image family: every server of the default line against the seed's
hand-written setup for the same server, and against its own alternatives. Run it with
`python3 -m bench` (see bench/__main__.py); results go to docs/benchmarks.{md,json,png}."""
