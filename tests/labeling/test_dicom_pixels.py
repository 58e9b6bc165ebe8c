"""The 8-bit pipeline: modality LUT, VOI, MONOCHROME1, bit depths, resizing and rendering."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from labeling.dicom import render_jpeg, render_png, resize_u8, to_uint8
from tests.dicom_factory import make_dx, phantom

AIR = (slice(0, 4), slice(0, 4))  # top-left corner: outside the body
BODY = (slice(30, 34), slice(30, 34))  # mediastinum: bright on a chest film


def ramp(bits: int = 12, signed: bool = False) -> np.ndarray:
    """Every stored value of ``bits`` once, as a square-ish image, so a LUT can be read off."""
    values = np.arange(2**bits, dtype=np.int64)
    if signed:
        values -= 2 ** (bits - 1)
    side = int(np.ceil(np.sqrt(values.size)))
    padded = np.resize(values, side * side).reshape(side, side)
    return padded.astype(np.int16 if signed else np.uint16)


def test_monochrome2_shows_air_dark_and_body_bright():
    image = to_uint8(make_dx())
    assert image.dtype == np.uint8 and image.shape == (64, 64)
    assert image[AIR].max() < 40 and image[BODY].min() > 200


def test_monochrome1_is_inverted_so_that_air_stays_dark():
    stored = phantom()
    inverted = (4095 - stored).astype(np.uint16)  # MONOCHROME1: air has the highest values
    mono1 = to_uint8(make_dx(pixels=inverted, photometric="MONOCHROME1"))
    mono2 = to_uint8(make_dx(pixels=stored))
    assert mono1[AIR].max() < 40 and mono1[BODY].min() > 200
    assert np.abs(mono1.astype(int) - mono2).max() <= 1


def test_monochrome1_inverts_after_the_file_window():
    ds = make_dx(pixels=ramp(), photometric="MONOCHROME1", WindowCenter=2048, WindowWidth=1024)
    image = to_uint8(ds).ravel()
    assert image[100] == 255 and image[4000] == 0


def test_rescale_slope_and_intercept_are_applied_before_the_window():
    stored = phantom()
    rescaled = make_dx(pixels=stored, RescaleSlope=2, RescaleIntercept=-1000)
    modality = (stored.astype(np.int64) * 2 - 1000).astype(np.int16)
    plain = make_dx(pixels=modality, bits_stored=16, signed=True)
    window = (3000.0, 4000.0)
    assert np.array_equal(to_uint8(rescaled, window=window), to_uint8(plain, window=window))
    assert not np.array_equal(to_uint8(rescaled, window=window), to_uint8(plain, window=(0, 99)))


def test_an_eight_bit_voi_lut_with_many_entries_indexes_past_255():
    item = Dataset()
    item.LUTDescriptor = [4096, 0, 8]
    item.LUTData = [v // 16 for v in range(4096)]
    item["LUTData"].VR = "US"
    ds = make_dx(pixels=ramp())
    ds.VOILUTSequence = Sequence([item])
    assert np.array_equal(to_uint8(ds).ravel()[:4096], np.arange(4096) // 16)


def test_a_modality_lut_sequence_is_applied():
    item = Dataset()
    item.LUTDescriptor = [4096, 0, 12]  # 12-bit output: pydicom cannot build this table
    item.ModalityLUTType = "US"
    item.LUTData = [4095 - v for v in range(4096)]  # an inverting modality LUT
    item["LUTData"].VR = "US"
    ds = make_dx(pixels=ramp(), WindowCenter=2048, WindowWidth=1024)
    ds.ModalityLUTSequence = Sequence([item])
    image = to_uint8(ds).ravel()
    assert image[100] == 255 and image[4000] == 0


def test_the_file_window_is_used_when_present():
    image = to_uint8(make_dx(pixels=ramp(), WindowCenter=2048, WindowWidth=1024)).ravel()
    assert image[1535] == 0 and image[2561] == 255
    assert image[2048] in (127, 128) and np.all(np.diff(image[1536:2561].astype(int)) >= 0)


def test_a_multi_valued_window_uses_the_first_pair():
    single = to_uint8(make_dx(pixels=ramp(), WindowCenter=2048, WindowWidth=1024))
    multi = to_uint8(make_dx(pixels=ramp(), WindowCenter=[2048, 300], WindowWidth=[1024, 20]))
    assert np.array_equal(single, multi)


@pytest.mark.parametrize(
    ("function", "at_center", "low", "high"),
    [("LINEAR_EXACT", 128, 1536, 2560), ("SIGMOID", 128, None, None), ("LINEAR", 128, 1535, 2561)],
)
def test_the_voi_lut_function_is_honoured(function, at_center, low, high):
    ds = make_dx(pixels=ramp(), WindowCenter=2048, WindowWidth=1024, VOILUTFunction=function)
    image = to_uint8(ds).ravel()
    assert abs(int(image[2048]) - at_center) <= 1
    if low is not None:
        assert image[low] == 0 and image[high] == 255
    else:  # the sigmoid never clips: still below white one width above the centre
        assert 0 < image[1024] < 10 and 245 < image[3072] < 255


def test_a_voi_lut_sequence_wins_over_the_window():
    item = Dataset()
    item.LUTDescriptor = [4096, 0, 8]
    item.LUTData = [min(255, v // 8) for v in range(4096)]  # reaches white at 2040
    item["LUTData"].VR = "US"
    ds = make_dx(pixels=ramp(), WindowCenter=100, WindowWidth=10)
    ds.VOILUTSequence = Sequence([item])
    image = to_uint8(ds).ravel()
    assert image[800] == 100 and image[3000] == 255


def test_an_explicit_window_overrides_the_file():
    ds = make_dx(pixels=ramp(), WindowCenter=100, WindowWidth=10)
    image = to_uint8(ds, window=(2048, 1024)).ravel()
    assert image[1535] == 0 and image[2561] == 255


def test_an_explicit_window_must_have_a_positive_width():
    with pytest.raises(ValueError, match="width"):
        to_uint8(make_dx(), window=(100, 0))


def test_a_broken_file_window_falls_back_to_percentiles():
    broken = to_uint8(make_dx(WindowCenter=2048, WindowWidth=0))
    assert np.array_equal(broken, to_uint8(make_dx()))


@pytest.mark.parametrize("bits", [8, 10, 12, 14, 16])
def test_every_bits_stored_gives_the_same_picture(bits):
    reference = to_uint8(make_dx(bits_stored=12)).astype(int)
    image = to_uint8(make_dx(bits_stored=bits))
    assert np.abs(image.astype(int) - reference).mean() < 1.5


@pytest.mark.parametrize("bits", [8, 12, 16])
def test_signed_data_gives_the_same_picture_as_unsigned(bits):
    unsigned = to_uint8(make_dx(bits_stored=bits))
    signed = to_uint8(make_dx(bits_stored=bits, signed=True))
    assert np.array_equal(signed, unsigned)


@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("window", [None, (2048, 4096)])
def test_bits_above_bits_stored_are_ignored(signed, window):
    """Bits 12–15 of 12-bit data are unspecified (old overlays live there): the picture, the
    percentile window included, depends on the stored bits only."""
    stored = phantom()
    noisy = stored | (np.random.default_rng(0).integers(0, 16, stored.shape) << 12)
    attributes = {"PixelRepresentation": int(signed)}
    if window is None:
        attributes.update(WindowCenter=None, WindowWidth=None)
    else:
        attributes.update(WindowCenter=window[0], WindowWidth=window[1])
    plain = to_uint8(make_dx(pixels=stored, **attributes))
    assert np.array_equal(to_uint8(make_dx(pixels=noisy.astype(np.uint16), **attributes)), plain)


def test_the_percentile_window_ignores_a_few_hot_pixels():
    stored = phantom()
    hot = stored.copy()
    hot[10, 10:14] = 4095  # four saturated pixels out of 4096
    with_hot = to_uint8(make_dx(pixels=hot)).astype(int)
    assert np.abs(with_hot[BODY] - to_uint8(make_dx(pixels=stored))[BODY]).max() <= 2


def test_the_percentile_window_ignores_pixel_padding():
    stored = phantom()
    padded = np.pad(stored, 16)[:64, :64].copy()
    padded[:16, :] = 0
    padded[:, :16] = 0
    plain = to_uint8(make_dx(pixels=padded))
    ignored = to_uint8(make_dx(pixels=padded, PixelPaddingValue=0))
    assert ignored[32:, 32:].astype(int).mean() != plain[32:, 32:].astype(int).mean()


def test_a_flat_image_renders_without_dividing_by_zero():
    flat = np.full((64, 64), 700, dtype=np.uint16)
    assert np.array_equal(to_uint8(make_dx(pixels=flat)), np.zeros((64, 64), np.uint8))


def test_a_colour_secondary_capture_becomes_grey():
    ds = make_dx(bits_stored=8)
    rgb = np.repeat(phantom(bits_stored=8)[:, :, None], 3, axis=2)
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "RGB"
    ds.PlanarConfiguration = 0
    ds.PixelData = rgb.tobytes()
    assert np.abs(to_uint8(ds).astype(int) - phantom(bits_stored=8)).max() <= 1


# ------------------------------------------------------------------------ resize and render


def test_resize_shrinks_by_averaging_areas():
    checker = (np.indices((512, 512)).sum(axis=0) % 2 * 200).astype(np.uint8)
    small = resize_u8(checker, 256)
    assert small.shape == (256, 256) and small.dtype == np.uint8
    assert np.all(small == 100)  # a 2×2 box of 0 and 200 averages to 100: no aliasing


def test_resize_enlarges_small_images_and_stretches_to_square_like_the_paper():
    assert resize_u8(to_uint8(make_dx()), 256).shape == (256, 256)
    wide = np.full((300, 600), 255, dtype=np.uint8)
    assert np.all(resize_u8(wide, 100) == 255)


def test_resize_can_pad_to_square_instead_keeping_the_aspect():
    wide = np.full((300, 600), 255, dtype=np.uint8)
    padded = resize_u8(wide, 100, pad_to_square=True)
    assert padded.shape == (100, 100)
    assert padded[:20].max() == 0 and padded[-20:].max() == 0 and padded[50].min() == 255


def test_resize_refuses_what_is_not_a_grey_uint8_image():
    with pytest.raises(ValueError, match="uint8"):
        resize_u8(np.zeros((4, 4), dtype=np.float32))


def test_png_rendering_round_trips_exactly():
    image = to_uint8(make_dx())
    decoded = np.asarray(Image.open(io.BytesIO(render_png(image))))
    assert np.array_equal(decoded, image)


def test_jpeg_rendering_round_trips_closely():
    image = to_uint8(make_dx())
    data = render_jpeg(image, quality=95)
    assert data.startswith(b"\xff\xd8")
    decoded = np.asarray(Image.open(io.BytesIO(data)))
    assert decoded.shape == image.shape and np.abs(decoded.astype(int) - image).mean() < 3
