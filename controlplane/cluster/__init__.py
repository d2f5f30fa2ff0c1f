"""The Kubernetes API adapter: readiness of the objects controlplane rendered, read with the
official client library. The only package that imports `kubernetes`; every failure leaves it as
an unknown health with the reason, never an exception."""

from controlplane.cluster.health import ClusterHealth

__all__ = ["ClusterHealth"]
