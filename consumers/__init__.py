"""Consumers of the lead topics: readers, archive, webhooks, console."""

from consumers.lead_reader import read_leads

__all__ = ["read_leads"]
