"""The faces' colour spread over the skin around their crops (ganprior.faces.spread)."""

import pytest
import torch

from ganprior.faces.spread import spread_colour
from ganprior.io import to_gray


def scene(max_side=512):
    """A 96x96 gray photo: dark background, a lighter 'skin' square (rows/cols 24..72), a colourised
    16x16 'face' pasted at its centre with full weight and a 4 px feather."""
    luma = torch.full((1, 96, 96), 0.2)
    luma[:, 24:72, 24:72] = 0.6
    weight = torch.zeros(96, 96)
    weight[40:56, 40:56] = 1.0
    weight[36:60, 36:60] = torch.maximum(weight[36:60, 36:60], torch.full((24, 24), 0.5))
    chroma = torch.tensor([0.08, -0.03, -0.06])[:, None, None]
    chroma = chroma - to_gray(chroma[None])[0]  # zero luma
    image = luma + weight[None] * chroma
    out = spread_colour(image, luma, weight, face_side=32, max_side=max_side)
    return out, luma, chroma


def red(out):
    return (out - to_gray(out[None])[0])[0]  # the red channel's chroma


@pytest.mark.parametrize("max_side", [512, 32])
def test_colour_reaches_the_skin_fades_and_stops_at_an_edge(max_side):
    out, luma, chroma = scene(max_side)
    torch.testing.assert_close(to_gray(out[None])[0], luma, atol=1e-5, rtol=0)  # luminance kept exactly
    c = red(out)
    face = float(chroma[0, 0, 0])
    assert float(c[48, 48]) == pytest.approx(face, abs=1e-4)  # the face keeps its own colour
    near, far = float(c[48, 32]), float(c[48, 25])  # skin 4 and 11 px outside the pasted ring
    assert 0.3 * face < near <= face and 0 < far < near
    assert abs(float(c[48, 20])) < 0.1 * near  # across the skin's edge: the background stays gray
    assert abs(float(c[5, 5])) < 1e-3


def test_nothing_pasted_leaves_the_photo_gray():
    luma = torch.rand(1, 40, 50)
    out = spread_colour(luma.expand(3, -1, -1), luma, torch.zeros(40, 50), face_side=20)
    torch.testing.assert_close(out, luma.expand(3, -1, -1), atol=1e-6, rtol=0)
