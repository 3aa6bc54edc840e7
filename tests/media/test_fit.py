"""Previews and posters get the quality that reaches the SSIM target on each picture, no more."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageFilter
from skimage.metrics import structural_similarity

from apps.media import images
from apps.media.services import IMAGE_VARIANTS, VIDEO_VARIANTS
from tests.media.conftest import picture


def _luma64(im: Image.Image) -> np.ndarray:
    return np.asarray(im.convert("RGB").convert("L"), dtype=np.float64)


def _ssim(reference: Image.Image, data: bytes) -> float:
    """Measured as the benchmark measures it: scikit-image on luma."""
    with Image.open(io.BytesIO(data)) as decoded:
        return structural_similarity(_luma64(reference), _luma64(decoded), data_range=255)


def test_ssim_is_scikit_images():
    one = picture((301, 257), seed=4)
    blurred = one.filter(ImageFilter.GaussianBlur(1.5))
    noisy = Image.fromarray(
        np.clip(
            np.asarray(one) + np.random.default_rng(1).normal(0, 20, (257, 301, 3)), 0, 255
        ).astype(np.uint8)
    )
    reference = images.SsimReference(images.luma(one))
    for other in (one, blurred, noisy):
        expected = structural_similarity(_luma64(one), _luma64(other), data_range=255)
        assert reference.ssim(images.luma(other)) == pytest.approx(expected, abs=1e-5)


def test_previews_and_posters_choose_their_quality():
    for variants in (IMAGE_VARIANTS, VIDEO_VARIANTS):
        fitted = {n for n, s in variants.items() if getattr(s, "encoding", None) and s.encoding.fit}
        assert fitted == {n for n in variants if n.startswith(("preview", "poster"))}


@pytest.mark.parametrize("encoding", [images.WEBP_FITTED, images.AVIF_FITTED], ids=["webp", "avif"])
def test_each_picture_gets_the_target_sharpness(encoding):
    fit = encoding.fit
    noisy = picture((640, 480), seed=2)
    smooth, detailed = (noisy.filter(ImageFilter.GaussianBlur(r)) for r in (3, 1.2))
    made = {}
    for name, im in (("smooth", smooth), ("detailed", detailed), ("noisy", noisy)):
        data = encoding.save(im)
        assert encoding.save(im) == data  # the same pixels always give the same bytes
        with Image.open(io.BytesIO(data)) as v:
            assert v.format == encoding.format and v.size == im.size
        made[name] = data
    assert _ssim(smooth, made["smooth"]) >= fit.ssim
    assert _ssim(detailed, made["detailed"]) >= fit.ssim
    assert len(made["smooth"]) < len(made["detailed"]) < len(made["noisy"])
    # Noise out of reach of the target gets more quality than the fixed setting, within bounds.
    fixed = encoding.encode(noisy)
    assert _ssim(noisy, fixed) < _ssim(noisy, made["noisy"]) < fit.ssim
    assert len(made["noisy"]) <= len(encoding.encode(noisy, quality=fit.highest))


def test_webp_previews_spend_no_more_bytes_than_needed():
    encoding = images.WEBP_FITTED
    for radius in (3, 1.2):
        im = picture((640, 480), seed=2).filter(ImageFilter.GaussianBlur(radius))
        assert len(encoding.save(im)) < len(encoding.encode(im))  # the old fixed quality


def test_avif_previews_keep_their_quality_when_it_reaches_the_target():
    encoding = images.AVIF_FITTED
    im = picture((640, 480), seed=2).filter(ImageFilter.GaussianBlur(1.2))
    assert encoding.save(im) == encoding.encode(im)


def test_the_search_is_bounded_and_takes_the_lowest_quality_that_passes():
    fit = images.Fit(0.97, 40, 90, start=70, probes=4, slope=0.001)
    for threshold in (40, 47, 63, 70, 71, 88, 90):
        seen = []

        def measure(q, threshold=threshold, seen=seen):
            seen.append(q)
            return 0.97 + (q - threshold) * 0.0013  # passes from ``threshold`` up

        chosen = fit.search(measure)
        assert len(seen) <= fit.probes and chosen in seen
        assert chosen >= threshold and measure(chosen) >= 0.97
        assert chosen - threshold <= 3, (threshold, seen)

    never = []
    assert fit.search(lambda q: never.append(q) or 0.5) == max(never) <= 90
    assert len(never) <= fit.probes


def test_tiny_pictures_are_encoded_without_a_search():
    im = picture((6, 5), seed=1)
    for encoding in (images.WEBP_FITTED, images.AVIF_FITTED):
        with Image.open(io.BytesIO(encoding.save(im))) as v:
            assert v.size == (6, 5)
