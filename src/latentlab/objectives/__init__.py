"""Objectives: small pure functions of log-densities. Models wire networks to them."""
