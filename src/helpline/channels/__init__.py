"""Channels are adapters: each turns its outside format into an InboundMessage (see intake.py)."""
