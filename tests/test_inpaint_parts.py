"""Holes over facial parts (#27): the built-in part masks sit on the template's landmarks, and the
inpainting blend takes the prior's own content deep inside a hole while scattered holes keep the
classical blend."""

import pytest
import torch

from ganprior.errors import GanpriorError
from ganprior.faces.align import UTKFACE
from ganprior.physics.masks import (PART_BOXES, builtin_mask, center_box_mask, part_box, part_region,
                                    random_pixel_mask)
from ganprior.tasks import build_degradation, get_task
from ganprior.tasks.inpaint import hole_depth

LANDMARKS = dict(zip(("left-eye", "right-eye", "nose", "mouth-left", "mouth-right"), UTKFACE.points * 64))


def _inside(point, box) -> bool:
    top, left, h, w = box
    x, y = point
    return left <= x < left + w and top <= y < top + h


def test_part_boxes_are_centred_on_the_template_landmarks():
    for part in ("left-eye", "right-eye"):
        assert PART_BOXES[part][:2] == tuple(UTKFACE.points[0 if part == "left-eye" else 1])
    assert part_box("left-eye", 64) == (13, 11, 12, 16)  # 16 x 12 px around the eye at (18.8, 18.6)
    assert part_box("right-eye", 64) == (12, 36, 12, 16)
    assert part_box("mouth", 64)[2:] == (14, 30) and part_box("eyes", 64)[2:] == (12, 42)
    assert part_box("nose", 64)[2:] == (16, 14)


def test_each_part_box_covers_its_landmarks_and_no_other():
    covers = {"left-eye": {"left-eye"}, "right-eye": {"right-eye"}, "eyes": {"left-eye", "right-eye"},
              "nose": {"nose"}, "mouth": {"mouth-left", "mouth-right"}}
    for part, names in covers.items():
        box = part_box(part, 64)
        inside = {name for name, p in LANDMARKS.items() if _inside(p, box)}
        assert inside == names, part
        # with a margin of at least 2 px around each landmark it covers
        top, left, h, w = box
        for name in names:
            x, y = LANDMARKS[name]
            assert min(x - left, left + w - x, y - top, top + h - y) >= 2, (part, name)


def test_part_mask_specs():
    m = builtin_mask("mouth", 64)
    top, left, h, w = part_box("mouth", 64)
    assert m.shape == (1, 64, 64) and float((1 - m).sum()) == h * w
    assert float(m[0, top:top + h, left:left + w].max()) == 0
    bigger = builtin_mask("mouth:1.5", 64)
    assert float((1 - bigger).sum()) > 2 * h * w and bool((bigger <= m).all())
    # the boxes scale with the crop (within a pixel of rounding)
    assert all(abs(a - 2 * b) <= 1 for a, b in zip(part_box("eyes", 128), part_box("eyes", 64)))
    with pytest.raises(GanpriorError, match="scale"):
        builtin_mask("nose:5", 64)
    with pytest.raises(GanpriorError, match="left-eye"):
        builtin_mask("ear", 64)


def test_part_mask_reaches_the_inpainting_inputs():
    import ganprior
    x = torch.rand(2, 3, 64, 64)
    inputs = ganprior.load_inputs(x, "inpaint", 64, simulate=True, seed=0, mask="left-eye")
    assert torch.equal(inputs.masks[0], builtin_mask("left-eye", 64))


def test_hole_depth_is_the_distance_to_the_nearest_known_pixel():
    m = center_box_mask(16, 0.5)[None]  # an 8 x 8 hole at 4..11
    d = hole_depth(m, 3)
    assert float(d[m > 0].max()) == 0
    assert d[0, 0, 4, 4] == 1 and d[0, 0, 5, 5] == 2 and d[0, 0, 6, 7] == 3 and d[0, 0, 8, 8] == 3


def test_blend_weight_keeps_the_blend_for_scattered_holes_and_takes_the_prior_in_large_ones():
    task = get_task("inpaint")
    scattered = random_pixel_mask(64, 0.8, seed=0)[None]
    w = task.blend_weight(0.5, build_degradation("inpaint", 64, mask=scattered), 64)
    missing = scattered[0, 0] == 0
    # 80% missing at random: nearly every missing pixel has a known pixel within 2 px and keeps w
    assert float((w[0, 0][missing] == 0.5).float().mean()) > 0.95
    for spec in ("left-eye", "right-eye", "eyes", "mouth"):
        m = builtin_mask(spec, 64)[None]
        w = task.blend_weight(0.5, build_degradation("inpaint", 64, mask=m), 64)
        hole = m[0, 0] == 0
        assert bool((w[0, 0][~hole] == 0.5).all()), spec
        # the rim keeps the classical blend, the hole's inside over an eye or the mouth is the prior's
        assert float((w[0, 0][hole] == 1).float().mean()) > 0.2, spec
        assert float(w[0, 0][hole].min()) == 0.5, spec
        top, left, h, wd = part_box(spec if spec != "eyes" else "left-eye", 64)
        assert w[0, 0, top + h // 2, left + wd // 2] == 1, spec
    # over skin (the centre box, the nose) the classical blend stays, however large the hole
    for spec in ("center", "nose"):
        m = builtin_mask(spec, 64)[None]
        assert bool((task.blend_weight(0.5, build_degradation("inpaint", 64, mask=m), 64) == 0.5).all()), spec
    # the same box moved from the cheek onto the mouth: position decides
    cheek = torch.ones(1, 1, 64, 64)
    cheek[..., 30:44, 2:16] = 0
    assert bool((task.blend_weight(0.5, build_degradation("inpaint", 64, mask=cheek), 64) == 0.5).all())
    # a chain at a lower observed size: the map is brought to the output size
    deg = build_degradation("inpaint+super-resolve", 64, factor=2, mask=builtin_mask("mouth", 32)[None])
    assert task.blend_weight(0.7, deg, 64).shape == (1, 1, 64, 64)


def test_inpainting_blend_is_the_prior_deep_in_a_hole_and_classical_on_its_rim():
    from ganprior.tasks import classical_blend
    g = torch.Generator().manual_seed(0)
    truth = torch.nn.functional.interpolate(0.4 + 0.2 * torch.rand(1, 3, 8, 8, generator=g), size=(64, 64),
                                            mode="bilinear", align_corners=False)
    x = truth.flip(-1)
    m = builtin_mask("mouth", 64)[None]
    deg = build_degradation("inpaint", 64, mask=m)
    y = deg.A(truth)
    out = classical_blend(x, y, deg, 0.5)
    one = classical_blend(x, y, deg, 1.0)
    task = get_task("inpaint")
    deep = (hole_depth(m, 4) >= task.hole_depths[1]) & (part_region(task.prior_parts, 64, task.prior_part_scale) > 0)
    assert int(deep.sum()) > 100
    torch.testing.assert_close(out * deep, one * deep, atol=1e-6, rtol=0)
    torch.testing.assert_close(out * m, truth * m, atol=1e-5, rtol=0)


@pytest.mark.slow
def test_an_eye_hole_on_a_held_out_face_is_filled_better_than_biharmonic():
    """On a real face of the held-out set, the default preset's fill of a box over an eye is closer
    to the truth in LPIPS (a 32 px box around the hole) than scikit-image's biharmonic fill."""
    from pathlib import Path

    import ganprior
    from ganprior.baselines import fill
    from ganprior.io import fit_image, read_image
    from ganprior.metrics import lpips
    utk = Path(__file__).resolve().parents[2] / "shared" / "data" / "utkface"
    if not utk.is_dir():
        pytest.skip("needs ../shared/data/utkface")
    from ganprior.training import holdout_files
    face = fit_image(read_image(holdout_files(utk, 200)[0])[0], 64)[None]
    m = builtin_mask("left-eye", 64)[None]
    r = ganprior.restore(face, "inpaint", mask=m, simulate=True, seed=0, steps=150)
    bih = fill(face * m, m)
    top, left, h, w = part_box("left-eye", 64)
    t, l = max(0, top + h // 2 - 16), max(0, left + w // 2 - 16)
    crop = lambda z: z[..., t:t + 32, l:l + 32]  # noqa: E731
    assert float(lpips(crop(r.images), crop(face))) < float(lpips(crop(bih), crop(face)))
