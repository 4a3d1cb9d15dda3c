"""The Free Spoken Digit Dataset (FSDD): its official split, for tests, benchmarks and users who have it.

FSDD names its files `{digit}_{speaker}_{index}.wav`; the official split
puts takes 0-4 of every speaker and digit in the test set and 5-49 in
training. Nothing here downloads: pass the folder of recordings.
"""

import pathlib
import re

from toolkit.errors import ToolkitError

FSDD_NAME = re.compile(r"^(\d)_([a-z]+)_(\d+)\.wav$")
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def fsdd_files(folder):
    """Parses FSDD file names. Returns a list of (path, digit, speaker, index), sorted by path.

    Examples:
        >>> import tempfile
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / "3_theo_12.wav").write_bytes(b"")
        >>> [(d, s, i) for _, d, s, i in fsdd_files(folder)]
        [('3', 'theo', 12)]
    """
    folder = pathlib.Path(folder)
    files = []
    for path in sorted(folder.glob("*.wav")):
        match = FSDD_NAME.match(path.name)
        if match:
            files.append((str(path), match.group(1), match.group(2), int(match.group(3))))
    if not files:
        raise ToolkitError(
            f"No FSDD recordings ({{digit}}_{{speaker}}_{{index}}.wav) in '{folder}'.",
            expected="the recordings/ folder of the Free Spoken Digit Dataset",
            fix="pass the folder holding files such as 0_jackson_0.wav",
        )
    return files


def fsdd_split(folder):
    """The official split as (train, test), each a (paths, labels) pair the speech tasks accept as data.

    Examples:
        >>> import tempfile
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> for name in ("3_theo_2.wav", "3_theo_7.wav"):
        ...     _ = (folder / name).write_bytes(b"")
        >>> train, test = fsdd_split(folder)
        >>> [pathlib.Path(p).name for p in train[0]], test[1]
        (['3_theo_7.wav'], ['3'])
    """
    train, test = ([], []), ([], [])
    for path, digit, _, index in fsdd_files(folder):
        part = test if index < 5 else train
        part[0].append(path)
        part[1].append(digit)
    return train, test


def digit_strings(folder, split="train", count=1000, digits=(2, 5), silence=(0.05, 0.25), seed=0):
    """Spoken digit strings built from FSDD: two to five recordings of one speaker joined by short silences.

    Training utterances use only training recordings (takes 5-49) and test
    utterances only test recordings (takes 0-4), so no recording is heard in
    both. Each recording is trimmed of leading and trailing near-silence first.

    Args:
        folder: FSDD's recordings/ folder.
        split: "train" or "test".
        count: utterances to build.
        digits: (fewest, most) recordings per utterance.
        silence: (shortest, longest) pause between recordings, in seconds.
        seed: seed of the choices.

    Returns:
        (waveforms, transcripts, sample_rate): float32 waveforms and their
        words, such as "three one four", ready to pass to `SpeechRecognizer`.

    Examples:
        >>> waves, texts, rate = digit_strings("fsdd/recordings", "test", count=2)  # doctest: +SKIP
        >>> texts  # doctest: +SKIP
        ['nine four', 'two eight five one']
    """
    import numpy as np

    from tasks.speech.audio import read_wav

    if split not in ("train", "test"):
        raise ToolkitError(
            f"split={split!r} is not valid.", expected="'train' or 'test'", fix="pass split='train' or 'test'"
        )
    files = [f for f in fsdd_files(folder) if (f[3] < 5) == (split == "test")]
    by_speaker = {}
    for path, digit, speaker, _ in files:
        by_speaker.setdefault(speaker, []).append((path, digit))
    rng = np.random.default_rng(seed)
    cache, waves, texts, rate = {}, [], [], None
    speakers = sorted(by_speaker)
    for _ in range(count):
        takes = by_speaker[speakers[rng.integers(len(speakers))]]
        chosen = [takes[i] for i in rng.choice(len(takes), size=rng.integers(digits[0], digits[1] + 1), replace=False)]
        pieces = []
        for path, _ in chosen:
            if path not in cache:
                wave, rate = read_wav(path)
                cache[path] = _trim(wave)
            if pieces:
                pieces.append(np.zeros(int(rng.uniform(*silence) * rate), dtype=np.float32))
            pieces.append(cache[path])
        waves.append(np.concatenate(pieces))
        texts.append(" ".join(DIGIT_WORDS[int(digit)] for _, digit in chosen))
    return waves, texts, rate


def _trim(wave, threshold=0.02):
    """Drops leading and trailing samples quieter than `threshold` times the peak."""
    import numpy as np

    loud = np.flatnonzero(np.abs(wave) > threshold * np.abs(wave).max())
    return wave[loud[0] : loud[-1] + 1] if loud.size else wave


def write_digit_strings(folder, out_folder, split="train", count=1000, seed=0):
    """Writes `digit_strings` as WAV files plus a `manifest.tsv` (path, transcript) in `out_folder`.

    Returns:
        The manifest's path, usable as data for `SpeechRecognizer`.

    Examples:
        >>> write_digit_strings("fsdd/recordings", "digit_strings/test", "test", count=200)  # doctest: +SKIP
        PosixPath('digit_strings/test/manifest.tsv')
    """
    import numpy as np
    import scipy.io.wavfile

    waves, texts, rate = digit_strings(folder, split, count, seed=seed)
    out = pathlib.Path(out_folder)
    out.mkdir(parents=True, exist_ok=True)
    rows = ["path\ttranscript"]
    for i, (wave, text) in enumerate(zip(waves, texts)):
        name = f"{split}_{i:05d}.wav"
        scipy.io.wavfile.write(out / name, rate, (np.clip(wave, -1, 1) * 32767).astype(np.int16))
        rows.append(f"{name}\t{text}")
    manifest = out / "manifest.tsv"
    manifest.write_text("\n".join(rows) + "\n")
    return manifest
