"""Reading what Asterisk writes and turning it into what the recogniser wants.

MixMonitor writes, by file extension: `wav` (RIFF, 16-bit PCM at 8 kHz), `WAV` (upper case:
RIFF holding GSM 6.10, "WAV49"), `gsm` (raw GSM frames), `ulaw`/`alaw` (raw G.711, no header)
and `sln`/`sln16` (raw signed linear). The RIFF header is parsed here rather than by pydub or the
`wave` module because the files we must not lose are exactly the ones those refuse: a header
never finalised (Asterisk fills in the sizes only when it closes the file) or a file cut short.

Decoding uses `audioop` for G.711 and linear PCM (pydub 0.25.1 hands raw µ-law to ffmpeg without
a sample rate, which decodes it as 44.1 kHz), and pydub with ffmpeg only for GSM.
"""

from __future__ import annotations

import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

from pydub import AudioSegment

from hotline.errors import HotlineError

with warnings.catch_warnings():
    # Deprecated in 3.11 and gone in 3.13, where the audioop-lts package provides it.
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

WAVE_PCM, WAVE_ALAW, WAVE_MULAW, WAVE_GSM610, WAVE_EXTENSIBLE = 0x0001, 0x0006, 0x0007, 0x0031, 0xFFFE
_FORMAT_NAMES = {WAVE_PCM: "pcm", WAVE_ALAW: "alaw", WAVE_MULAW: "ulaw", WAVE_GSM610: "gsm"}
# A GSM 6.10 block in a WAV49 file is two 33-byte frames packed into 65 bytes: 320 samples.
_GSM_WAV49_SAMPLES_PER_BLOCK = 320
_GSM_FRAME_BYTES, _GSM_FRAME_SAMPLES = 33, 160
# Header sizes a writer leaves when it never closed the file.
_UNFINALISED_SIZES = (0, 0xFFFFFFFF)
HEADER_PROBE_BYTES = 4096

# Extension -> (encoding, sample rate) for the headerless files Asterisk writes.
RAW_FORMATS: dict[str, tuple[str, int]] = {
    "ulaw": ("ulaw", 8000),
    "ul": ("ulaw", 8000),
    "pcmu": ("ulaw", 8000),
    "alaw": ("alaw", 8000),
    "al": ("alaw", 8000),
    "pcma": ("alaw", 8000),
    "sln": ("pcm", 8000),
    "raw": ("pcm", 8000),
    "sln16": ("pcm", 16000),
    "gsm": ("gsm", 8000),
}
_RAW_BYTES_PER_SECOND = {"ulaw": 8000, "alaw": 8000, "pcm": 16000}

# Which party a side of the recording is. MixMonitor runs on the caller's channel: what it
# reads from the channel (r() file, left channel of a stereo file) is the caller, what it writes
# to the channel (t() file, right channel) is the agent.
CALLER, AGENT, MIXED = "caller", "agent", "mixed"


class AudioError(HotlineError):
    """The audio file cannot be read."""

    status_code = 422
    error_id = "bad-audio"


class NotAudio(AudioError):
    """The file is not audio that hotline knows."""

    error_id = "not-audio"


@dataclass(frozen=True)
class WavHeader:
    """What a RIFF/WAVE header says, and how much data the file really has."""

    format_tag: int
    channels: int
    sample_rate: int
    bits_per_sample: int
    block_align: int
    data_offset: int
    declared_data_bytes: int
    available_data_bytes: int

    @property
    def encoding(self) -> str:
        return _FORMAT_NAMES.get(self.format_tag, f"0x{self.format_tag:04x}")

    @property
    def data_bytes(self) -> int:
        """The data to decode: what the header declares, if the file has it all."""
        if self.declared_data_bytes in _UNFINALISED_SIZES:
            return self.available_data_bytes
        return min(self.declared_data_bytes, self.available_data_bytes)

    @property
    def whole_block_bytes(self) -> int:
        """`data_bytes` rounded down to whole blocks: a cut-off last block cannot be decoded."""
        return self.data_bytes - self.data_bytes % max(self.block_align, 1)

    @property
    def finalised(self) -> bool:
        """True when the header's data size matches the file: the writer closed it."""
        declared = self.declared_data_bytes
        return declared not in _UNFINALISED_SIZES and declared <= self.available_data_bytes

    @property
    def duration_seconds(self) -> float:
        blocks = self.whole_block_bytes // max(self.block_align, 1)
        if self.format_tag == WAVE_GSM610:
            return blocks * _GSM_WAV49_SAMPLES_PER_BLOCK / self.sample_rate
        return blocks / self.sample_rate


def read_wav_header(head: bytes, file_size: int) -> WavHeader:
    """Parse a RIFF/WAVE header from the first bytes of a file of `file_size` bytes.

    Raises NotAudio if this is no RIFF/WAVE file and AudioError if the header itself is cut off
    or lacks its `fmt ` chunk: such a file is kept but cannot be decoded.
    """
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise NotAudio("not a RIFF/WAVE file")
    fmt: tuple[int, int, int, int, int] | None = None
    offset = 12
    while offset + 8 <= len(head):
        chunk_id, size = head[offset : offset + 4], struct.unpack_from("<I", head, offset + 4)[0]
        body = offset + 8
        if chunk_id == b"fmt ":
            if body + 16 > len(head):
                break
            tag, channels, rate, _byte_rate, align, bits = struct.unpack_from("<HHIIHH", head, body)
            if tag == WAVE_EXTENSIBLE and size >= 40 and body + 26 <= len(head):
                tag = struct.unpack_from("<H", head, body + 24)[0]
            fmt = (tag, channels, rate, align, bits)
        elif chunk_id == b"data":
            if fmt is None:
                raise AudioError("WAV data chunk before any fmt chunk")
            tag, channels, rate, align, bits = fmt
            if not channels or not rate or not align:
                raise AudioError(f"WAV fmt chunk is invalid ({channels} ch, {rate} Hz)")
            if tag == WAVE_PCM and bits not in (8, 16, 24, 32):
                # audioop knows 1 to 4 bytes a sample: anything else cannot be decoded.
                raise AudioError(f"WAV fmt chunk is invalid ({bits}-bit PCM)")
            return WavHeader(tag, channels, rate, bits, align, body, size, max(file_size - body, 0))
        offset = body + size + (size & 1)
    raise AudioError("WAV header is cut off before its data chunk")


def repair_wav_header(path: Path, header: WavHeader) -> str:
    """Rewrite the RIFF and data sizes of `path` to the data it really holds; say what changed.

    Only the two size fields change: audio bytes are never touched or removed, so a repaired
    file still holds everything Asterisk wrote (a cut-off last block stays, outside the chunk).
    """
    data = header.whole_block_bytes
    with path.open("r+b") as file:
        file.seek(4)
        file.write(struct.pack("<I", header.data_offset - 8 + data))
        file.seek(header.data_offset - 4)
        file.write(struct.pack("<I", data))
    return f"header declared {header.declared_data_bytes} data bytes, file holds {header.available_data_bytes}; set to {data}"


@dataclass(frozen=True)
class AudioFacts:
    """What ingest records about a file: its encoding, rate, channels and length."""

    encoding: str
    sample_rate: int
    channels: int
    duration_seconds: float
    whole: bool  # False when the file ends inside a frame


def raw_facts(path: Path, size: int) -> AudioFacts:
    """Facts about a headerless file, from its extension and size."""
    encoding, rate = RAW_FORMATS[path.suffix.lstrip(".").lower()]
    if encoding == "gsm":
        frames, rest = divmod(size, _GSM_FRAME_BYTES)
        return AudioFacts(encoding, rate, 1, frames * _GSM_FRAME_SAMPLES / rate, rest == 0)
    bytes_per_second = _RAW_BYTES_PER_SECOND[encoding] * rate // 8000
    sample_bytes = 2 if encoding == "pcm" else 1
    return AudioFacts(encoding, rate, 1, size / bytes_per_second, size % sample_bytes == 0)


def is_raw(path: Path) -> bool:
    """True for the headerless formats, known by extension (`.WAV` upper case is RIFF WAV49)."""
    return path.suffix.lstrip(".").lower() in RAW_FORMATS


def duration_seconds(path: Path) -> float:
    """The length of `path` from its header or size alone, without decoding (0 if unreadable)."""
    size = path.stat().st_size
    if is_raw(path):
        return raw_facts(path, size).duration_seconds
    with path.open("rb") as file:
        try:
            return read_wav_header(file.read(HEADER_PROBE_BYTES), size).duration_seconds
        except AudioError:
            return 0.0


def _linear(data: bytes, encoding: str, sample_width: int) -> bytes:
    """16-bit signed PCM from G.711 or linear PCM of `sample_width` bytes."""
    if encoding == "ulaw":
        return audioop.ulaw2lin(data, 2)
    if encoding == "alaw":
        return audioop.alaw2lin(data, 2)
    if sample_width == 1:
        # 8-bit WAV is unsigned; audioop works on signed samples.
        return audioop.lin2lin(audioop.bias(data, 1, -128), 1, 2)
    return audioop.lin2lin(data, sample_width, 2) if sample_width != 2 else data


def _gsm(path: Path, container: str, rate: int) -> AudioSegment:
    segment = AudioSegment.from_file(str(path), format=container)
    # ffmpeg's gsm demuxer and WAV49 reader both keep 8 kHz; guard the recogniser regardless.
    return segment.set_frame_rate(rate) if segment.frame_rate != rate else segment


def decode(path: Path) -> AudioSegment:
    """The audio of `path` as 16-bit PCM at its true sample rate and channel count."""
    if is_raw(path):
        encoding, rate = RAW_FORMATS[path.suffix.lstrip(".").lower()]
        if encoding == "gsm":
            return _gsm(path, "gsm", rate)
        data = path.read_bytes()
        sample_width = 2 if encoding == "pcm" else 1
        data = data[: len(data) - len(data) % sample_width]
        return AudioSegment(data=_linear(data, encoding, 2), sample_width=2, frame_rate=rate, channels=1)

    with path.open("rb") as file:
        header = read_wav_header(file.read(HEADER_PROBE_BYTES), path.stat().st_size)
        if header.format_tag == WAVE_GSM610:
            return _gsm(path, "wav", header.sample_rate)
        if header.encoding not in ("pcm", "ulaw", "alaw"):
            raise AudioError(f"WAV encoding {header.encoding} is not supported")
        file.seek(header.data_offset)
        data = file.read(header.whole_block_bytes)
    sample_width = 1 if header.encoding != "pcm" else header.bits_per_sample // 8
    return AudioSegment(
        data=_linear(data, header.encoding, sample_width),
        sample_width=2,
        frame_rate=header.sample_rate,
        channels=header.channels,
    )


@dataclass(frozen=True)
class Side:
    """The audio of one party (caller, agent) or of both mixed, ready for the recogniser."""

    speaker: str
    audio: AudioSegment

    @property
    def pcm(self) -> bytes:
        """Mono 16-bit little-endian samples at `sample_rate`, the format vosk accepts."""
        return self.audio.raw_data

    @property
    def sample_rate(self) -> int:
        return self.audio.frame_rate


def _mono16(audio: AudioSegment) -> AudioSegment:
    return audio.set_channels(1).set_sample_width(2)


def sides(main: Path, caller: Path | None = None, agent: Path | None = None) -> list[Side]:
    """The sides to transcribe: the r()/t() files when both exist, else the left and right of a
    stereo file, else the one mixed channel."""
    if caller is not None and agent is not None:
        return [Side(CALLER, _mono16(decode(caller))), Side(AGENT, _mono16(decode(agent)))]
    audio = decode(main)
    if audio.channels == 2:
        left, right = audio.split_to_mono()
        return [Side(CALLER, _mono16(left)), Side(AGENT, _mono16(right))]
    return [Side(MIXED, _mono16(audio))]
