"""Media decoding: real video, frame timing, audio, and the broken files users actually have."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import write_video

from congruence.errors import MediaError
from congruence.ingest.media import AudioFile, decode_audio_to_file, iter_frames, probe


def test_real_video_probe_and_frames(wolfgang_video: Path) -> None:
    info = probe(wolfgang_video)
    assert info.has_video and info.width == 640 and info.height == 360
    assert info.duration == pytest.approx(19.69, abs=0.05)
    frames = list(iter_frames(wolfgang_video, [0.0, 1.0, 12.0, 19.5], max_width=320))
    assert [f.time for f in frames] == pytest.approx([0.0, 1.0, 12.0, 19.5], abs=1 / 23.9)
    assert all(f.image.shape == (180, 320, 3) and f.image.dtype == np.uint8 for f in frames)


def test_frame_times_after_seeking_match_a_full_decode(tmp_path: Path) -> None:
    path = write_video(tmp_path / "bar.mp4", seconds=20, fps=10)
    frames = list(iter_frames(path, [0.5, 15.0, 15.2, 19.0], seek_gap=2.0))
    assert [round(f.time, 1) for f in frames] == [0.5, 15.0, 15.2, 19.0]
    # the bar width encodes the frame number: a seek that landed on the wrong frame would show
    widths = [int((f.image[60] > 128).all(axis=1).sum()) for f in frames]
    assert widths == sorted(widths) and widths[1] == pytest.approx(160 * 150 / 200, abs=2)


def test_audio_decodes_to_16k_mono_and_segments(tmp_path: Path) -> None:
    sr = 44100
    t = np.arange(sr * 2) / sr
    tone = 0.5 * np.sin(2 * np.pi * 440 * t).astype(np.float32)
    path = write_video(tmp_path / "av.mp4", seconds=2, audio=tone, sr=sr)
    raw = tmp_path / "a.f32"
    dur = decode_audio_to_file(path, raw)
    assert dur == pytest.approx(2.0, abs=0.1)
    seg = AudioFile(raw).segment(0.5, 1.5)
    assert seg.sample_rate == 16000 and len(seg.samples) == 16000
    spectrum = np.abs(np.fft.rfft(seg.samples))
    assert np.argmax(spectrum) == pytest.approx(440, abs=2)  # 1 s window: bin = Hz


def test_video_without_audio_is_probed_as_such(tmp_path: Path) -> None:
    info = probe(write_video(tmp_path / "silent.mp4"))
    assert info.has_video and not info.has_audio
    with pytest.raises(MediaError, match="no audio stream"):
        decode_audio_to_file(info.path, tmp_path / "x.f32")


def test_unreadable_empty_and_missing_files(tmp_path: Path) -> None:
    # issue 13: a text file renamed .mp4 is said to be text, not sent to a re-muxing tool
    (tmp_path / "notes.mp4").write_text("Speaker,Start,End,Utterance\nClient,0,1,I'm fine, really.\n")
    with pytest.raises(MediaError) as info:
        probe(tmp_path / "notes.mp4")
    assert info.value.problem == "notes.mp4 is not a media file: it holds text."
    assert "ffmpeg" not in info.value.fix and "--transcript" in info.value.fix
    # binary garbage that is neither media nor a known format keeps the generic message
    (tmp_path / "noise.mp4").write_bytes(bytes(range(256)) * 64)
    with pytest.raises(MediaError) as info:
        probe(tmp_path / "noise.mp4")
    assert "Cannot read noise.mp4 as audio or video" in info.value.problem
    assert "not need it" in info.value.fix  # ffmpeg only as an optional outside tool
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(MediaError, match="empty"):
        probe(tmp_path / "empty.wav")
    with pytest.raises(MediaError, match="not found"):
        probe(tmp_path / "nope.mkv")


def test_truncated_video_yields_the_frames_it_has(tmp_path: Path, wolfgang_video: Path) -> None:
    """The first half of a real mp4 (its index is at the front, so it still probes): the frames
    and audio up to the cut decode, nothing after it, and nothing raises."""
    data = wolfgang_video.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    info = probe(cut)  # pinned: this file must take the readable branch
    assert info.duration == pytest.approx(19.69, abs=0.05)  # the container still declares it all
    frames = list(iter_frames(cut, [1.0, 5.0, 18.0]))
    assert [f.time for f in frames] == pytest.approx([1.0, 5.0], abs=1 / 23.9)  # 18 s is gone
    assert all(f.image.shape == (360, 640, 3) for f in frames)
    decoded = decode_audio_to_file(cut, tmp_path / "a.f32")
    assert 5.0 < decoded < info.duration - 5.0  # the audio stops near the cut, well short of 19.7 s


def test_truncated_video_without_its_index_is_a_clear_error(tmp_path: Path) -> None:
    """PyAV writes the mp4 index (moov) at the end: cut in half, the file cannot be read, and says so."""
    data = write_video(tmp_path / "v.mp4", seconds=4).read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(MediaError) as exc:
        probe(cut)
    assert "Cannot read cut.mp4" in exc.value.problem and "truncated" in exc.value.fix
