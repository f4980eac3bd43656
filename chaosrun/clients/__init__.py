"""Clients of the systems chaosrun drives: Toxiproxy, Kubernetes, Chaos Toolkit providers."""
