"""envbot: a Slack ChatOps bot for Kubernetes environments and time-boxed access on DKP."""
