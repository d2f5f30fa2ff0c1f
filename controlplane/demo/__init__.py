"""`controlplane demo`: the whole loop on one machine, every process on 127.0.0.1."""
