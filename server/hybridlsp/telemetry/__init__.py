"""Telemetry: each answered request exported over OTLP to a team's collector (`otlp`), optional
and off by default. An exporter is an engine observer (`Engine.add_observer`)."""

from .otlp import FIX_INSTALL, TelemetryExporter, exporter_for, span_attributes

__all__ = ["exporter_for", "TelemetryExporter", "span_attributes", "FIX_INSTALL"]
