"""The backbone registry: one call signature per modality, checked as each backbone registers."""

import keras
import pytest

from toolkit.backbones import BACKBONES, SIGNATURES, check_signature
from toolkit.registry import Registry
from toolkit.saving import TASKS

TASKS.available()  # imports every installed family, and so registers every family's backbones

# The arguments each modality's signature names, tiny.
FIRST_ARGUMENTS = {
    "image": ((32, 32, 3), 8),
    "segmentation": ((32, 32, 1), 8),
    "detection": ((64, 64, 3), 8),
    "audio": ((20, 16, 1), 8),
    "speech-recognition": ((None, 16), 8),
    "text": (50, 16, 8),
    "text-generation": (50, 16, 8),
    "text-to-text": (50, 16, 8),
    "table": (4, [3, 5], 8),
    "series": ((None, 2), 8),
}


def test_every_backbone_of_a_modality_builds_from_the_same_first_arguments():
    built = 0
    for name, modality in [(n, m) for m in SIGNATURES for n in BACKBONES.available(modality=m)]:
        assert BACKBONES.metadata(name, modality=modality)["modality"] == modality
        if modality not in FIRST_ARGUMENTS:
            continue  # image generation's pairs of networks: checked by their attributes
        arguments = FIRST_ARGUMENTS[modality]
        if name in ("mel_gru", "mel_lstm"):  # recurrent audio backbones read (frames, bins), no channel axis
            arguments = ((20, 16), 8)
        model = BACKBONES.get(name, modality=modality)(*arguments)
        assert isinstance(model, keras.Model), name
        built += 1
    assert built >= 15


def test_a_backbone_with_another_signature_is_refused_as_it_registers():
    registry = Registry("backbone", check=check_signature)

    def swapped(sequence_length, vocabulary_size, width=8):
        return None

    with pytest.raises(ValueError, match=r"'swapped' \(modality 'text'\) must take \(vocabulary_size, sequence_length"):
        registry.register("swapped", modality="text")(swapped)
    with pytest.raises(ValueError, match="names modality 'tabular'"):
        registry.register("rows", modality="tabular")(lambda features, width: None)
    assert registry.available() == []
