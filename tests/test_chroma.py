"""Colour stains (#27): the stain metric scores a blotch, a patch and a cast and not a face a little
pale; the chroma fence keeps the gray input as the output's luma and removes a stain the prior's
nearest samples do not paint; the colorization presets fence with 16 samples."""

import pytest
import torch

import ganprior
from ganprior.chroma import FENCE_QUANTILE, FENCE_SAMPLES, chroma_band, fence_chroma
from ganprior.io import to_gray
from ganprior.metrics import chroma_stain, lab_to_rgb, rgb_to_lab
from ganprior.presets import STYLES, task_preset
from ganprior.tasks import build_degradation
from ganprior.tasks.colorize import keep_luminance

S = 64


def face(skin=(0.80, 0.60, 0.48), shade=0.0) -> torch.Tensor:
    """A 64 px 'face': a shaded skin-coloured ellipse on a gray-green background, (1, 3, S, S)."""
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, S), torch.linspace(-1, 1, S), indexing="ij")
    inside = ((xx / 0.6) ** 2 + (yy / 0.8) ** 2 <= 1).float()
    light = 1 - 0.25 * (xx + 0.3 * yy).clamp(-1, 1) * (1 + shade)  # light from the left
    skin_img = torch.tensor(skin).view(3, 1, 1) * light
    background = torch.tensor([0.45, 0.50, 0.45]).view(3, 1, 1).expand(3, S, S)
    return (inside * skin_img + (1 - inside) * background).clamp(0, 1)[None]


def with_chroma(x: torch.Tensor, region: torch.Tensor, a: float, b: float, mix: float = 1.0) -> torch.Tensor:
    """``x`` with Lab a/b moved to (a, b) by ``mix`` inside ``region`` (H, W); its L kept."""
    lab = rgb_to_lab(x)
    target = torch.tensor([a, b], dtype=lab.dtype).view(1, 2, 1, 1)
    lab[:, 1:] = lab[:, 1:] + (mix * region)[None, None] * (target - lab[:, 1:])
    return keep_luminance(lab_to_rgb(lab), to_gray(x))


def box(top, left, side):
    m = torch.zeros(S, S)
    m[top:top + side, left:left + side] = 1
    return m


NOSE, CHEEK = box(30, 28, 8), box(36, 14, 10)


def stains(truth: torch.Tensor) -> dict[str, torch.Tensor]:
    gray = to_gray(truth)
    return {
        "yellow blotch on the nose": with_chroma(truth, NOSE, 0.0, 60.0),
        "blue patch on a cheek": with_chroma(truth, CHEEK, 5.0, -30.0),
        # 0.1 less red and more blue everywhere: an ab shift of 17-19 (a cast of 0.07, 12-13, is not counted)
        "blue cast": keep_luminance(truth + 0.1 * torch.tensor([-1.0, 0.0, 1.0]).view(1, 3, 1, 1), gray),
    }


def test_stain_metric_scores_blotch_patch_and_cast_and_not_a_pale_face():
    truth = face()
    gray = to_gray(truth)
    pale = keep_luminance(gray + 0.8 * (truth - gray), gray)  # right hue, 20% less chroma
    assert chroma_stain(truth, truth).item() == 0.0
    assert chroma_stain(pale, truth).item() == 0.0
    scores = {k: chroma_stain(v, truth).item() for k, v in stains(truth).items()}
    # the blotch and the patch cover their own area (64 and 100 px of 4096: 1.6% and 2.4%), give or take the
    # 5 px window at their borders; the cast covers everything
    assert 1.0 < scores["yellow blotch on the nose"] < 2.5
    assert 1.8 < scores["blue patch on a cheek"] < 3.5
    assert scores["blue cast"] == 100.0
    # a black-and-white portrait with a blue cast: stained everywhere; the gray truth itself: not at all
    bw = gray.expand(-1, 3, -1, -1)
    assert chroma_stain(stains(bw)["blue cast"], bw).item() == 100.0
    assert chroma_stain(bw, bw).item() == 0.0


def test_stain_metric_ignores_a_thin_misplaced_edge_and_is_per_image():
    truth = face()
    line = torch.zeros(S, S)
    line[:, 40] = 1  # a one-pixel line of wrong colour: the 5 px window averages it below the threshold
    assert chroma_stain(with_chroma(truth, line, 5.0, -30.0), truth).item() == 0.0
    assert chroma_stain(with_chroma(truth, line, 5.0, -30.0), truth, window=1).item() == pytest.approx(100 / 64)
    both = chroma_stain(torch.cat([truth, stains(truth)["blue cast"]]), torch.cat([truth, truth]))
    assert both.tolist() == [0.0, 100.0]


def test_chroma_band_is_the_quantiles_of_the_samples():
    samples = torch.stack([with_chroma(face(), torch.ones(S, S), a, 20.0) for a in (5.0, 10.0, 15.0, 20.0, 25.0)], 1)
    low, high = chroma_band(samples, 0.25)
    inside = slice(28, 36)
    # a = 5..25 over 5 samples: quartiles 10 and 20 (the colours are rounded to sRGB floats, so within 0.5)
    assert low[0, 0, inside, inside].mean().item() == pytest.approx(10.0, abs=0.5)
    assert high[0, 0, inside, inside].mean().item() == pytest.approx(20.0, abs=0.5)
    low0, high0 = chroma_band(samples, 0.0)
    assert low0[0, 0, inside, inside].mean().item() == pytest.approx(5.0, abs=0.5)
    assert high0[0, 0, inside, inside].mean().item() == pytest.approx(25.0, abs=0.5)
    with pytest.raises(ValueError, match="quantile"):
        chroma_band(samples, 0.6)


def test_fence_removes_an_injected_blotch_and_keeps_the_luminance_exactly():
    truth = face()
    gray = to_gray(truth)
    # the prior's nearest samples: the same face a little paler or more saturated, none with the blotch
    samples = torch.stack([keep_luminance(gray + s * (truth - gray), gray) for s in (0.8, 0.9, 1.0, 1.1, 1.2)], 1)
    stained = stains(truth)["yellow blotch on the nose"]
    assert chroma_stain(stained, truth).item() > 1.0
    out = keep_luminance(fence_chroma(stained, samples, FENCE_QUANTILE), gray)
    assert (to_gray(out) - gray).abs().max().item() < 1e-5
    assert chroma_stain(out, truth).item() == 0.0
    ab_err = (rgb_to_lab(out)[:, 1:] - rgb_to_lab(truth)[:, 1:]).norm(dim=1)
    assert ab_err[0, 30:38, 28:36].max().item() < 4.0  # the blotch is back within the samples' band
    # a colour the samples agree on passes the fence unchanged
    kept = keep_luminance(fence_chroma(truth, samples), gray)
    assert (kept - truth).abs().max().item() < 2e-3


def test_colorization_presets_fence_with_sixteen_samples():
    assert FENCE_SAMPLES == 16 and FENCE_QUANTILE == 0.25
    for style in STYLES:
        assert task_preset(["colorize"], style)["chroma_fence"] == 16
    assert "chroma_fence" not in task_preset(["colorize", "inpaint", "super-resolve"], "auto")
    # a degradation asks for samples only where a task of its chain fences, and only with paste-back
    assert build_degradation("colorize", 16, chroma_fence=16).fence_samples == 16
    assert build_degradation("colorize", 16, chroma_fence=16, paste_known=False).fence_samples == 0
    assert build_degradation("reconstruct", 16, chroma_fence=16).fence_samples == 0
    assert build_degradation("colorize", 16).fence_samples == 0


def test_api_fences_colorization_and_keeps_the_gray_input(tiny_prior):
    x = face()
    x = torch.nn.functional.interpolate(x, size=16, mode="area")
    runs = {fence: ganprior.restore(x, "colorize", tiny_prior, simulate=True, steps=3, chroma_fence=fence)
            for fence in (0, 4)}
    gray = to_gray(x)
    for r in runs.values():
        assert (to_gray(r.images) - gray).abs().max().item() < 1e-5
    assert torch.equal(runs[0].raw, runs[4].raw)  # the fence is post-processing: the fit is the same
    assert not torch.equal(runs[0].images, runs[4].images)
    # a chain led by another task's preset does not fence unless asked
    chain = ganprior.restore(x, "colorize+inpaint", tiny_prior, simulate=True, steps=2, mask="center",
                             num_codes=2, layer=1)
    assert (to_gray(chain.images) - gray).abs().max().item() < 1.0
