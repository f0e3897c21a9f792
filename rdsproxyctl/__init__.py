"""rdsproxyctl: an operations CLI and library for Amazon RDS Proxy."""

__version__ = "0.1.0.dev0"
