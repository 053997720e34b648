"""A fake Kubernetes API server on loopback, the stand-in `envbot demo --serve` and tests use."""
