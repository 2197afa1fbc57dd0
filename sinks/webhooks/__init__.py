"""Webhook delivery: every matching alert POSTed to each tenant endpoint, signed, retried,
at least once.

One module per concern: ``signing`` (HMAC signature and secrets), ``policy`` (which URLs a
subscription may name), ``body`` (the JSON POSTed, derived from the ``Alert`` row),
``deliveries`` (subscriptions, deliveries and their state machine: pure logic),
``store`` (all of it in ClickHouse) and ``dispatcher`` (the threaded delivery service).
"""
