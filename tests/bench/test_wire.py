"""The raw-socket MQTT load client encodes and splits packets the way MQTT 3.1.1 defines."""

from __future__ import annotations

from bench.wire import _varint, puback_packet, publish_packet, split_packets


def test_remaining_length_uses_the_mqtt_variable_byte_encoding() -> None:
    # MQTT 3.1.1 section 2.2.3's own examples.
    assert _varint(0) == b"\x00"
    assert _varint(127) == b"\x7f"
    assert _varint(128) == b"\x80\x01"
    assert _varint(16_383) == b"\xff\x7f"
    assert _varint(2_097_152) == b"\x80\x80\x80\x01"


def test_split_packets_returns_complete_packets_and_keeps_a_partial_one() -> None:
    big = b"x" * 300                              # a two-byte remaining length
    stream = (publish_packet(b"a/b", b"hello", 7) + publish_packet(b"c", big, 65535)
              + puback_packet(9))
    buffer = bytearray(stream[:-3])               # the PUBACK arrives in two reads
    packets = split_packets(buffer)
    assert [(kind, flags) for kind, flags, _ in packets] == [(3, 2), (3, 2)]
    assert packets[0][2] == b"\x00\x03a/b\x00\x07hello"
    assert packets[1][2].endswith(big) and packets[1][2][3:5] == b"\xff\xff"
    assert bytes(buffer) == stream[-4:-3]
    buffer += stream[-3:]
    assert split_packets(buffer) == [(4, 0, b"\x00\x09")] and not buffer
