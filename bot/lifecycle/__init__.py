"""The lifecycle kernel: the state move with its audit event and outbox effects, decisions,
extension within a cap, drift episodes and reminder thresholds, shared by every workflow."""
