import pytest

from recordings.transcription import Recogniser
from tests.recordings.speech import KOREAN_MODEL


@pytest.fixture(scope="session")
def recogniser() -> Recogniser:
    """The real Korean vosk model, loaded once for the whole run (it takes seconds)."""
    return Recogniser(KOREAN_MODEL)
