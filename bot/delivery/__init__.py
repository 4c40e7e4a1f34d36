"""Delivery of finished reports: a durable on-disk outbox, and senders (Standard Webhooks, email) that drain it.

Every delivery is first written to ``<out>/<meeting id>/outbox/<item id>/`` as a ready-to-send item, then sent,
then recorded in ``delivered.jsonl``. Delivery is at-least-once: receivers dedupe by the ``webhook-id`` header.
"""
