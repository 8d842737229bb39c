"""Recommenders: interactions, a shared fit/recommend interface, and the models."""
