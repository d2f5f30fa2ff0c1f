"""What the desired resources become in each serving system's own terms. Pure.

A target that holds objects of its own (a LiteLLM deployment, a vLLM adapter) gets them from
here, and says here what of the config it cannot express, so that `validate` and `plan` refuse
it with file, line and field instead of dropping it.
"""

from controlplane.serving.support import Unsupported, unsupported

__all__ = ["Unsupported", "unsupported"]
