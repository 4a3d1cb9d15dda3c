"""Speech: spoken-command classification and speech-to-text over one log-mel front end."""

from tasks.speech.classifier import SpeechClassifier, train_speech_classifier
from tasks.speech.recognizer import SpeechRecognizer, train_speech_recognizer

__all__ = ["SpeechClassifier", "SpeechRecognizer", "train_speech_classifier", "train_speech_recognizer"]
