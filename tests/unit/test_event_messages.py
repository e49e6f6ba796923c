"""Event messages: the compact JSON every shared store publishes and reads back."""

from __future__ import annotations

import json

import pytest

from conveyor.stores.channel import StoreEvent, decode_events, encode_events

AWKWARD = ["job:added", "", 'quote " and \\ backslash', "tab\tnew\nline", "é ü 字 🚀", "\x00\x1f"]


@pytest.mark.parametrize("text", AWKWARD)
def test_a_message_is_what_json_dumps_makes(text: str) -> None:
    batch = [StoreEvent(text, f"id-{text}", f"queue-{text}"), StoreEvent("job:failed", "2", text)]
    expected = json.dumps(
        {"o": text, "e": [[e.event, e.job_id, e.queue] for e in batch]}, separators=(",", ":")
    )
    assert encode_events(text, batch) == expected
    assert decode_events(encode_events(text, batch)) == (text, batch)


def test_an_empty_batch_is_a_message_too() -> None:
    assert encode_events("o", []) == '{"o":"o","e":[]}'
    assert decode_events(encode_events("o", [])) == ("o", [])
