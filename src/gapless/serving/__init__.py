"""Serving, the engine without HTTP: deployments, strategies, guardrails, predictor,
prediction log, batch scoring."""
