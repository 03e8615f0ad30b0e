"""Stateful building blocks shared by several methods that are neither encoders, heads nor losses
(momentum target networks and key queues: :mod:`avssl.modules.momentum`)."""
