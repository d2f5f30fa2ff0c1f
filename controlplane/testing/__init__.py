"""The test kit: LABELLED stand-ins and simulators, and child-process helpers.

Everything here is for tests, benchmarks and `controlplane demo` only: the forge STAND-IN (the
GitHub pulls subset over a local bare repository, not a forge), the model-server SIMULATOR (not
a model), and the helpers that start processes on loopback and stop them for sure. An
import-linter contract keeps product code from importing any of it.
"""
