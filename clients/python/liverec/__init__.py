"""A client of the liverec HTTP API (api/openapi.yaml), standard library only."""

from liverec.client import Client, LiverecError

__all__ = ["Client", "LiverecError"]
__version__ = "0.1.0"
