"""The config as text: YAML documents that remember the line of every field, parsed from the
files of a config repository. Pure."""

from controlplane.config.documents import (
    Document,
    FieldPath,
    LoadedConfig,
    environment_of,
    format_path,
    parse_documents,
)
from controlplane.config.parse import CONFIG_DIRS, ConfigFile, is_config_file, parse_config

__all__ = [
    "CONFIG_DIRS",
    "ConfigFile",
    "Document",
    "FieldPath",
    "LoadedConfig",
    "environment_of",
    "format_path",
    "is_config_file",
    "parse_config",
    "parse_documents",
]
