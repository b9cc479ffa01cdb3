"""Example plugin: a shop's order lookup that a Coze customer-service bot calls.

ORDERS_PLUGIN_TOKEN=change-me cozegate plugins serve examples.orders_plugin:plugin --port 9100
"""

from examples.orders_plugin.plugin import plugin

__all__ = ["plugin"]
