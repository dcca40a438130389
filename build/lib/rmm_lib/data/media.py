"""Reading released media: audio to a 16 kHz waveform and AST's 128-bin fbank, video to frames.

Audio: ``.wav`` through scipy; any other container (mp4, flv) through PyAV (``pip install av``,
in the ``data`` extra). The fbank is transformers' ``ASTFeatureExtractor`` (128 mel bins, 16 kHz,
1024 frames, AudioSet normalisation): exactly AST's input, as CMPT sec. 4.2 describes.
Video: every frame is decoded with PyAV, shorter side resized to 224 and centre-cropped, then
``n`` evenly spaced frames are kept (the loader draws 3 of them per clip).
"""
from __future__ import annotations

import struct
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
MEL_BINS = 128
MAX_FRAMES = 1024


class MediaError(ValueError):
    """A media file cannot be decoded (truncated, corrupted, or no stream of the needed kind)."""


def _av():
    try:
        import av
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError("Decoding video/audio containers needs PyAV: pip install 'rmm_lib[data]' (or pip install av).") from err
    return av


def read_audio(path, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Mono float32 waveform in [-1, 1] at ``sample_rate``."""
    path = Path(path)
    if path.suffix.lower() == ".wav":
        from scipy.io import wavfile
        from scipy.signal import resample_poly

        try:
            rate, wave = wavfile.read(path)
        except (ValueError, EOFError, OSError, struct.error) as err:
            raise MediaError(f"{path}: not a readable WAV file ({err}); it is truncated or corrupted.") from err
        if np.issubdtype(wave.dtype, np.integer):
            wave = wave.astype(np.float32) / float(np.iinfo(wave.dtype).max)
        wave = wave.astype(np.float32)
        if wave.ndim == 2:
            wave = wave.mean(axis=1)
        if rate != sample_rate:
            g = np.gcd(rate, sample_rate)
            wave = resample_poly(wave, sample_rate // g, rate // g).astype(np.float32)
        return wave
    av = _av()
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise MediaError(f"{path} has no audio stream.")
            resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
            chunks = []
            for frame in container.decode(audio=0):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
    except av.error.FFmpegError as err:
        raise MediaError(f"{path}: cannot decode audio ({err}); the file is truncated or corrupted.") from err
    if not chunks:
        raise MediaError(f"{path}: the audio stream is empty.")
    return np.concatenate(chunks).astype(np.float32)


@lru_cache(maxsize=1)
def _extractor():
    from transformers import ASTFeatureExtractor

    return ASTFeatureExtractor(sampling_rate=SAMPLE_RATE, num_mel_bins=MEL_BINS, max_length=MAX_FRAMES)


def fbank(wave: np.ndarray) -> np.ndarray:
    """(1024, 128) float32 log-mel filterbank, AST's input (padded / cut to 1024 frames)."""
    with warnings.catch_warnings():
        # Without torchaudio, transformers' numpy filter bank warns that the lowest of AST's 128
        # mel filters is empty at a 512-point FFT; AST was trained on exactly these features.
        warnings.filterwarnings("ignore", message="At least one mel filter has all zero values")
        out = _extractor()(wave, sampling_rate=SAMPLE_RATE, return_tensors="np")["input_values"][0]
    return out.astype(np.float32)


def _crop(image, size: int) -> np.ndarray:
    from PIL import Image

    w, h = image.size
    scale = size / min(w, h)
    image = image.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.BICUBIC)
    w, h = image.size
    left, top = (w - size) // 2, (h - size) // 2
    return np.asarray(image.crop((left, top, left + size, top + size)), dtype=np.uint8)


def read_frames(path, n: int, size: int = 224) -> np.ndarray:
    """``n`` evenly spaced RGB frames of the video at ``path``: uint8 (n, 3, size, size)."""
    av = _av()
    frames = []
    try:
        with av.open(str(Path(path))) as container:
            if not container.streams.video:
                raise MediaError(f"{path} has no video stream.")
            for frame in container.decode(video=0):
                frames.append(_crop(frame.to_image(), size))
    except av.error.FFmpegError as err:
        raise MediaError(f"{path}: cannot decode video ({err}); the file is truncated or corrupted.") from err
    if not frames:
        raise MediaError(f"{path}: no video frame could be decoded; the file is truncated or corrupted.")
    pick = np.linspace(0, len(frames) - 1, n).round().astype(int)
    return np.stack([frames[i] for i in pick]).transpose(0, 3, 1, 2)
