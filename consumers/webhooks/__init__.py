"""Webhooks: lead versions delivered to subscribers' HTTP endpoints, signed, retried, in order per lead."""

from consumers.webhooks.deliverer import DeliveryCounts, WebhookDeliverer, webhook_group
from consumers.webhooks.delivery import Delivery, RedeliveryReport, RetryPolicy, redeliver
from consumers.webhooks.signing import sign, verify_signature
from consumers.webhooks.store import FailedDelivery, FailedDeliveryStore
from consumers.webhooks.subscriptions import LeadFilter, Subscription, load_subscriptions

__all__ = [
    "Delivery",
    "DeliveryCounts",
    "FailedDelivery",
    "FailedDeliveryStore",
    "LeadFilter",
    "RedeliveryReport",
    "RetryPolicy",
    "Subscription",
    "WebhookDeliverer",
    "load_subscriptions",
    "redeliver",
    "sign",
    "verify_signature",
    "webhook_group",
]
