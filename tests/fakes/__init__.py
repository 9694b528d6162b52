"""Fake upstreams: real HTTP servers on 127.0.0.1 speaking each backend's wire format."""

from .upstreams import FakeAnthropic, FakeOllama, FakeOpenAI, FakeUpstream, Fault, Recorded, free_port

__all__ = ["FakeUpstream", "FakeOllama", "FakeOpenAI", "FakeAnthropic", "Fault", "Recorded", "free_port"]
