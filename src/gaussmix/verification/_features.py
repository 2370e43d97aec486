"""Acoustic features for speaker verification: MFCCs with deltas (librosa, the ``speech`` extra).

librosa is the maintained reference implementation of MFCCs in Python (numpy/scipy/numba, wheels
for every supported Python); python_speech_features has had no release since 2017.
"""
from __future__ import annotations

import numbers

import numpy as np
import numpy.typing as npt

__all__ = ["mfcc_features"]


def _librosa():
    try:
        import librosa
    except ImportError as exc:  # pragma: no cover - the test extra installs it
        raise ImportError("mfcc_features needs librosa: pip install 'gaussmix[speech]'") from exc
    return librosa


def mfcc_features(y: npt.ArrayLike, sr: int, *, n_mfcc: int = 20, deltas: int = 2,
                  n_mels: int = 40, win_ms: float = 25.0, hop_ms: float = 10.0,
                  fmin: float = 20.0, fmax: float | None = None, delta_width: int = 9,
                  vad_db: float | None = None, cmvn: bool = True) -> np.ndarray:
    """MFCC frames with their time derivatives, the classic GMM-UBM front end.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Mono audio.
    sr : int
        Sampling rate in Hz.
    n_mfcc : int, default=20
        Cepstral coefficients per frame (``c0`` included).
    deltas : {0, 1, 2}, default=2
        Derivative orders appended: 1 adds deltas, 2 deltas and delta-deltas.
    n_mels : int, default=40
        Mel filters.
    win_ms, hop_ms : float, default=25.0, 10.0
        Analysis window and hop in milliseconds.
    fmin, fmax : float, default=20.0, None
        Band of the mel filterbank (``None``: ``sr / 2``).
    delta_width : int, default=9
        Odd number of frames in the regression window of the derivatives (reduced for very
        short signals).
    vad_db : float or None, default=None
        Energy voice-activity detection: drop frames whose RMS energy is more than ``vad_db``
        decibels below the loudest frame (e.g. 30). ``None`` keeps every frame.
    cmvn : bool, default=True
        Cepstral mean and variance normalisation over the kept frames; the mean removes a
        stationary channel (a fixed linear filter is an additive constant in the cepstrum).

    Returns
    -------
    ndarray of shape (n_frames, n_mfcc * (1 + deltas))
        One row per frame, float64.
    """
    librosa = _librosa()
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise ValueError(f"y must be mono audio, a 1-D array; got shape {y.shape}.")
    if not np.all(np.isfinite(y)):
        raise ValueError("y contains NaN or inf samples.")
    if isinstance(sr, bool) or not isinstance(sr, numbers.Integral) or sr <= 0:
        raise ValueError(f"sr must be a positive int (Hz), got {sr!r}.")
    if deltas not in (0, 1, 2) or isinstance(deltas, bool):
        raise ValueError(f"deltas must be 0, 1 or 2, got {deltas!r}.")
    win = int(round(sr * win_ms / 1000.0))
    hop = int(round(sr * hop_ms / 1000.0))
    if win < 2 or hop < 1:
        raise ValueError(f"win_ms={win_ms} and hop_ms={hop_ms} are too short at sr={sr}.")
    if y.size < win:
        raise ValueError(f"y has {y.size} samples, fewer than one {win_ms} ms window ({win}).")
    n_fft = 1 << (win - 1).bit_length()
    mfcc = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=n_mfcc, n_fft=n_fft, hop_length=hop,
                                win_length=win, n_mels=n_mels, fmin=fmin, fmax=fmax)
    blocks = [mfcc]
    if deltas:
        n = mfcc.shape[1]
        width = min(int(delta_width), n if n % 2 else n - 1)
        if width < 3:
            raise ValueError(f"y gives {n} frames, too few for derivatives (3 at least).")
        blocks += [librosa.feature.delta(mfcc, order=o, width=width)
                   for o in range(1, deltas + 1)]
    F = np.vstack(blocks).T.astype(np.float64)
    if vad_db is not None:
        rms = librosa.feature.rms(y=y, frame_length=n_fft, hop_length=hop)[0][:F.shape[0]]
        db = 20 * np.log10(np.maximum(rms, 1e-10))
        F = F[db >= db.max() - float(vad_db)]
    if cmvn:
        F = F - F.mean(axis=0)
        sd = F.std(axis=0)
        F = F / np.where(sd > 0, sd, 1.0)
    return F
