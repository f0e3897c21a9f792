"""The rdsproxyctl library: logic and dataclasses, no CLI (never imports typer or rich)."""
