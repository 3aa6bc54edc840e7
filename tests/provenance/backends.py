"""A backend for tests whose second file cannot be stored: the job's transaction rolls back."""

from apps.generation.backends.base import GeneratedFile, GenerationBackend
from tests.conftest import png_bytes


class BrokenStore(GenerationBackend):
    name = "Broken"
    model = "broken"
    version = "0"
    sizes = ((512, 512),)

    def generate(self, request, progress):
        good = GeneratedFile(data=png_bytes((16, 16)), mime="image/png", width=16, height=16)
        bad = GeneratedFile(data=b"not a picture", mime="image/x-unknown", width=1, height=1)
        return [good, bad]
