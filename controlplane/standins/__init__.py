"""Labelled stand-ins for what cannot run here (a public forge). Not product code paths."""
