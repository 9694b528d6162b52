"""The per-host memory the dispatcher skips hosts by: which failures count, and for how long."""

import pytest

from hybridlsp.backends.hosts import HostCooldown, origin_of
from hybridlsp.config import settings_from_mapping
from hybridlsp.errors import (
    AuthError,
    BackendTimeout,
    BackendUnavailable,
    BadRequest,
    ContextLengthExceeded,
    RateLimited,
    ServerError,
    StreamBroken,
)

HOST = "http://127.0.0.1:11434"


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


@pytest.mark.parametrize(
    "error, counts",
    [
        (BackendUnavailable("ollama", "cannot connect"), True),
        (BackendUnavailable("ollama", "connection closed before an answer", connected=True), False),
        (BackendTimeout("ollama", "the stream went silent for 10 s", limit="silence"), True),
        (BackendTimeout("ollama", "no connection", limit="connect"), True),
        (ServerError("ollama", "HTTP 500"), True),
        (RateLimited("openai", "HTTP 429"), False),  # about the key, not the host
        (ContextLengthExceeded("ollama", "too long"), False),  # about the request
        (BadRequest("ollama", "model not found"), False),
        (AuthError("openai", "HTTP 401"), False),
        (StreamBroken("ollama", "cut half-way"), False),
    ],
)
def test_which_failures_are_the_hosts(error, counts):
    hosts = HostCooldown(30, clock=Clock())
    assert hosts.failed(HOST, error) is counts
    assert (hosts.trouble(HOST) is not None) is counts


def test_a_host_is_skipped_for_the_cooldown_then_tried_again():
    clock = Clock()
    hosts = HostCooldown(30, clock=clock)
    hosts.failed(HOST, BackendTimeout("ollama", "the stream went silent for 10 s", limit="silence"))
    clock.now += 29.9
    trouble = hosts.trouble(HOST)
    assert trouble is not None and trouble.reason == "timeout" and "went silent" in trouble.why(clock.now)
    assert hosts.trouble("http://127.0.0.1:11435") is None  # another host is not touched
    clock.now += 0.1
    assert hosts.trouble(HOST) is None


def test_an_answer_clears_the_host():
    hosts = HostCooldown(30, clock=Clock())
    hosts.failed(HOST, ServerError("ollama", "HTTP 500"))
    hosts.succeeded(HOST)
    assert hosts.trouble(HOST) is None


def test_in_process_backends_have_no_host():
    hosts = HostCooldown(30, clock=Clock())
    assert not hosts.failed(None, BackendUnavailable("embedded", "no model"))
    assert hosts.trouble(None) is None


@pytest.mark.parametrize(
    "backend, settings, expected",
    [
        ("ollama", {}, "http://127.0.0.1:11434"),
        ("ollama", {"backends": {"ollama": {"host": "http://gpu-box:11434/"}}}, "http://gpu-box:11434"),
        ("openai", {}, "https://api.openai.com:443"),
        ("openai", {"backends": {"openai": {"base_url": "http://127.0.0.1:8000/v1"}}}, "http://127.0.0.1:8000"),
        ("anthropic", {}, "https://api.anthropic.com:443"),
        ("embedded", {}, None),
    ],
)
def test_origin_of_a_backend(backend, settings, expected):
    assert origin_of(backend, settings_from_mapping(settings)) == expected


OTHER = "https://api.openai.com:443"


@pytest.mark.parametrize(
    "failed, origins, skipped",
    [
        ([], [HOST, HOST, OTHER, None], set()),
        ([HOST], [HOST, HOST, OTHER, None], {HOST}),  # Ollama cooling down: the cloud and embedded answer
        ([HOST], [HOST, HOST, None], {HOST}),  # embedded is never skipped for a host
        ([HOST, OTHER], [HOST, HOST, OTHER], set()),  # every host cooling: try the chain rather than fail it
        ([HOST], [HOST, HOST], set()),
        ([OTHER], [HOST, OTHER], {OTHER}),
    ],
)
def test_what_a_new_request_skips(failed, origins, skipped):
    hosts = HostCooldown(30, clock=Clock())
    for origin in failed:
        hosts.failed(origin, BackendUnavailable("x", "cannot connect"))
    skips = hosts.skips(origins)
    assert set(skips) == skipped
    assert all("cannot connect" in why for why in skips.values())
