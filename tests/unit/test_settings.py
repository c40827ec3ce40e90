"""Settings derived from others when not given."""

from __future__ import annotations

from loyalty.config import Settings


def test_the_console_is_this_server_unless_told_otherwise() -> None:
    assert Settings(host="127.0.0.1", port=9001).console_address == "http://127.0.0.1:9001"
    assert Settings(public_url="https://api.example.com/").console_address == "https://api.example.com"
    assert (
        Settings(console_url="https://console.example.com/").console_address == "https://console.example.com"
    )
