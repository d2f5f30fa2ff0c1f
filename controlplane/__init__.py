"""controlplane: a GitOps control plane for serving large language models."""

__version__ = "0.1.0"
