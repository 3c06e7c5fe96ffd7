"""Face alignment geometry: the similarity fit, the warp into a prior's crop and the paste back."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from ganprior.demo import demo_dir
from ganprior.faces.align import (
    FFHQ, TEMPLATES, UTKFACE, FaceTemplate, align_face, fit_similarity, invert_affine, measure_template,
    paste_back, paste_mask,
)


def smooth_photo(h: int = 200, w: int = 300, seed: int = 0) -> torch.Tensor:
    """A (3, h, w) photo in [0.1, 0.9]: smooth colour blobs and a diagonal ripple of ~15 px period."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(1, 3, h // 16 + 1, w // 16 + 1, generator=g)
    x = F.interpolate(low, size=(h, w), mode="bicubic", align_corners=False)[0]
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    x = x + 0.08 * torch.sin(2 * math.pi * (xs / 17 + ys / 29))
    return 0.1 + 0.8 * x.clamp(0, 1)


def similarity(angle_deg: float, scale: float, shift) -> np.ndarray:
    a = math.radians(angle_deg)
    return np.array([[scale * math.cos(a), -scale * math.sin(a), shift[0]],
                     [scale * math.sin(a), scale * math.cos(a), shift[1]]])


def place(template: FaceTemplate, face_px: float, angle_deg: float, center) -> np.ndarray:
    """Landmarks of a face whose template crop would be ``face_px`` wide, turned and centred on ``center``."""
    p = template.landmarks(face_px) - (face_px - 1) / 2
    return p @ similarity(angle_deg, 1.0, (0, 0))[:, :2].T + np.asarray(center, dtype=np.float64)


def apply(M, p):
    return p @ M[:, :2].T + M[:, 2]


def upscale(photo: torch.Tensor, scale: int) -> torch.Tensor:
    if scale == 1:
        return photo
    return F.interpolate(photo[None], scale_factor=scale, mode="bicubic", align_corners=False)[0].clamp(0, 1)


def full_mask(shape, mask, box) -> torch.Tensor:
    x0, y0, x1, y1 = box
    m = torch.zeros(shape, dtype=mask.dtype)
    m[y0:y1, x0:x1] = mask
    return m


def psnr_where(a, b, where) -> float:
    mse = ((a - b) ** 2).mean(0)[where].mean()
    return float(10 * torch.log10(1 / mse))


# --- similarity fit ------------------------------------------------------------------------------

SRC = np.array([[10.0, 12.0], [40.0, 11.0], [26.0, 30.0], [14.0, 45.0], [38.0, 46.0]])


@pytest.mark.parametrize("robust", [True, False])
def test_fit_recovers_a_known_similarity(robust):
    T = similarity(10, 2.5, (17.0, -4.0))
    M = fit_similarity(SRC, apply(T, SRC), robust=robust)
    np.testing.assert_allclose(M, T, atol=1e-9)


def test_fit_ignores_one_bad_landmark():
    T = similarity(10, 2.5, (17.0, -4.0))
    dst = apply(T, SRC)
    dst[4] += [25.0, -18.0]  # a mouth corner placed far off, as on a profile face
    np.testing.assert_allclose(fit_similarity(SRC, dst), T, atol=1e-9)
    assert np.abs(fit_similarity(SRC, dst, robust=False) - T).max() > 1.0


def test_fit_keeps_every_point_under_ordinary_noise():
    T = similarity(-25, 0.7, (3.0, 8.0))
    dst = apply(T, SRC) + np.random.default_rng(0).normal(0, 0.3, SRC.shape)
    np.testing.assert_allclose(fit_similarity(SRC, dst), fit_similarity(SRC, dst, robust=False))


def test_fit_refuses_bad_points():
    with pytest.raises(ValueError, match="coincide"):
        fit_similarity(np.ones((5, 2)), SRC)
    with pytest.raises(ValueError):
        fit_similarity(SRC, SRC[:4])
    with pytest.raises(ValueError):
        fit_similarity(SRC * np.nan, SRC)


def test_invert_affine():
    T = similarity(33, 1.7, (5.0, 6.0))
    np.testing.assert_allclose(apply(invert_affine(T), apply(T, SRC)), SRC, atol=1e-12)


# --- templates -----------------------------------------------------------------------------------

@pytest.mark.parametrize("tpl", [UTKFACE, FFHQ])
def test_templates_are_faces(tpl):
    p = tpl.points
    assert p.shape == (5, 2) and ((p > 0) & (p < 1)).all()
    assert p[0, 0] < p[2, 0] < p[1, 0] and p[3, 0] < p[4, 0]         # left eye, nose, right eye; mouth corners
    assert p[:2, 1].max() < p[2, 1] < p[3:, 1].min()                  # eyes above the nose above the mouth
    assert TEMPLATES[tpl.name] is tpl
    np.testing.assert_allclose(tpl.landmarks(64), p * 64 - 0.5)
    with pytest.raises(ValueError):
        tpl.points[0, 0] = 0.5  # read-only


def test_ffhq_template_matches_the_512_px_reference():
    ref_512 = np.array([[192.98138, 239.94708], [318.90277, 240.1936], [256.63416, 314.01935],
                        [201.26117, 371.41043], [313.08905, 371.15118]])
    np.testing.assert_allclose(FFHQ.landmarks(512), ref_512, atol=0.01)


def test_unknown_template_name():
    with pytest.raises(ValueError, match="unknown face template"):
        align_face(smooth_photo(), place(UTKFACE, 64, 0, (150, 100)), "celeba")
    with pytest.raises(ValueError):
        FaceTemplate(np.zeros((4, 2)))


# --- align and paste back ------------------------------------------------------------------------

def test_align_puts_the_landmarks_on_the_template():
    lm = place(FFHQ, 90, 20, (150, 100))
    crop, M = align_face(smooth_photo(), lm, "ffhq", 128)
    assert crop.shape == (3, 128, 128) and crop.dtype == torch.float32
    np.testing.assert_allclose(apply(M, lm), FFHQ.landmarks(128), atol=1e-9)
    np.testing.assert_allclose(math.sqrt(abs(np.linalg.det(M[:, :2]))), 128 / 90, rtol=1e-9)


def test_align_takes_a_detector_face_and_uint8_photos():
    photo = smooth_photo()
    u8 = (photo * 255).round().byte()
    lm = place(UTKFACE, 70, -15, (120, 90))

    class Face:
        landmarks = lm

    a, Ma = align_face(u8.permute(1, 2, 0).numpy(), Face(), size=64)
    b, Mb = align_face(u8.float() / 255, lm, size=64)
    np.testing.assert_array_equal(Ma, Mb)
    torch.testing.assert_close(a, b)


@pytest.mark.parametrize("face_px, size, scale", [(64, 64, 1), (64, 128, 1), (64, 64, 2), (64, 128, 2), (150, 64, 1)])
def test_round_trip_reproduces_the_photo(face_px, size, scale):
    photo = smooth_photo()
    crop, M = align_face(photo, place(UTKFACE, face_px, 12, (140, 95)), size=size)
    bg = upscale(photo, scale)
    out, mask, box = paste_back(bg, crop, M, scale, return_mask=True)
    m = full_mask(bg.shape[1:], mask, box)
    assert (m == 1).sum() > 0.25 * (face_px * scale) ** 2
    assert psnr_where(out, bg, m > 0) > 40
    assert torch.equal(out[:, m == 0], bg[:, m == 0])


def test_round_trip_of_the_demo_face():
    face = torch.from_numpy(np.array(Image.open(demo_dir() / "real" / "astronaut.png").convert("RGB")))
    canvas = smooth_photo(300, 400, seed=1)
    canvas[:, 50:242, 100:292] = upscale(face.permute(2, 0, 1).float() / 255, 3)
    lm = place(UTKFACE, 150, -8, (196, 146))
    for size, scale in [(192, 1), (256, 2)]:
        crop, M = align_face(canvas, lm, size=size)
        bg = upscale(canvas, scale)
        out, mask, box = paste_back(bg, crop, M, scale, return_mask=True)
        m = full_mask(bg.shape[1:], mask, box)
        assert psnr_where(out, bg, m > 0) > 40
        assert torch.equal(out[:, m == 0], bg[:, m == 0])


def test_a_face_cut_by_the_border_gets_replicated_edges():
    photo = smooth_photo()
    lm = place(UTKFACE, 80, 5, (15, 20))  # the crop reaches past the left and top edges
    crop, M = align_face(photo, lm, size=64)
    assert torch.isfinite(crop).all()
    outside = apply(invert_affine(M), np.array([[0.0, 0.0], [0.0, 32.0], [32.0, 0.0]]))
    assert (outside < 0).any(axis=1).all()
    assert crop.min() > photo.min() - 0.01  # no black border
    # the crop's outer corner is the photo's corner pixel, replicated
    torch.testing.assert_close(crop[:, 0, 0], photo[:, 0, 0], atol=0.01, rtol=0)
    out, mask, box = paste_back(photo, crop, M, return_mask=True)
    assert torch.isfinite(out).all() and out.min() > photo.min() - 0.01
    assert box[0] == 0 and box[1] == 0
    m = full_mask(photo.shape[1:], mask, box)
    assert psnr_where(out, photo, m > 0) > 40


def test_a_big_face_is_antialiased():
    h, w = 400, 400
    xs = torch.arange(w, dtype=torch.float32)
    stripes = (0.5 + 0.4 * torch.sin(2 * math.pi * xs / 3.3)).expand(3, h, w).clone()  # far past the crop's Nyquist
    lm = place(UTKFACE, 300, 7, (200, 200))
    smooth, _ = align_face(stripes, lm, size=64)
    aliased, _ = align_face(stripes, lm, size=64, antialias=False, mode="bilinear")
    assert smooth.std() < 0.01 and abs(smooth.mean() - 0.5) < 0.01
    assert aliased.std() > 0.1  # plain bilinear turns the stripes into moire


def test_paste_mask_is_zero_on_the_border_ring_and_one_inside():
    for size in (16, 64, 65, 256):
        m = paste_mask(size)
        assert m.shape == (size, size)
        ring = torch.cat([m[0], m[-1], m[:, 0], m[:, -1]])
        assert (ring == 0).all()
        assert m[size // 2, size // 2] == 1 and m.min() == 0 and m.max() == 1
        assert torch.equal(m, m.T) and torch.equal(m, m.flip(0))
    assert (paste_mask(64, feather=0, border=0.1) > 0).sum() == (64 - 2 * 6) ** 2  # zero up to 6.4 px from the edge
    with pytest.raises(ValueError):
        paste_mask(64, feather=0.4, border=0.2)


def test_paste_at_x4_fills_the_output_photo():
    photo = smooth_photo(60, 80)
    lm = place(UTKFACE, 32, -10, (40, 30))
    crop, M = align_face(photo, lm, size=64)
    bg = torch.zeros(3, 240, 320)
    out, mask, box = paste_back(bg, crop.clone().fill_(1.0), M, 4, return_mask=True)
    assert out.shape == (3, 240, 320)
    # the face lands where the input face was, four times as large
    changed = (out > 0).any(0).nonzero()
    center = (changed.float().mean(0).flip(0) + 0.5) / 4 - 0.5
    np.testing.assert_allclose(center.numpy(), apply(invert_affine(M), np.array([[31.5, 31.5]]))[0], atol=0.5)
    assert 0.8 * 4 * 32 < int(changed[:, 1].max() - changed[:, 1].min()) < 4 * 32 * math.sqrt(2)
    torch.testing.assert_close(out, full_mask(bg.shape[1:], mask, box).expand(3, -1, -1), atol=1e-5, rtol=0)


def test_additive_paste_adds_a_signed_detail_under_the_mask():
    photo = smooth_photo(60, 80)
    lm = place(UTKFACE, 32, -10, (40, 30))
    _, M = align_face(photo, lm, size=64)
    bg = torch.full((3, 120, 160), 0.5)
    # signed values survive the warp (the non-additive paste clips the crop to [0, 1])
    out, mask, box = paste_back(bg, torch.full((3, 64, 64), -0.2), M, 2, return_mask=True, additive=True)
    full = full_mask(bg.shape[1:], mask, box)
    assert torch.equal(out[:, full == 0], bg[:, full == 0])  # the background is kept exactly off the mask
    torch.testing.assert_close(out, bg - 0.2 * full, atol=1e-5, rtol=0)
    up = paste_back(bg, torch.full((3, 64, 64), 0.7), M, 2, additive=True)
    assert float(up.max()) == 1.0  # the sum is clipped to [0, 1]
    zero = paste_back(bg, torch.zeros(3, 64, 64), M, 2, additive=True)
    assert torch.equal(zero, bg)


def test_several_faces_pasted_in_turn():
    photo = smooth_photo(240, 360)
    faces = [place(UTKFACE, 60, 10, (80, 80)), place(FFHQ, 110, -20, (250, 140)), place(UTKFACE, 40, 0, (90, 190))]
    out, masks = photo.clone(), torch.zeros(photo.shape[1:])
    for lm, tpl in zip(faces, [UTKFACE, FFHQ, UTKFACE]):
        crop, M = align_face(photo, lm, tpl, size=96)
        out, mask, box = paste_back(out, crop, M, inplace=True, return_mask=True)
        masks = torch.maximum(masks, full_mask(photo.shape[1:], mask, box))
    assert psnr_where(out, photo, masks > 0) > 40
    assert torch.equal(out[:, masks == 0], photo[:, masks == 0])


def test_paste_copies_unless_inplace_and_skips_faces_outside():
    photo = smooth_photo()
    before = photo.clone()
    crop, M = align_face(photo, place(UTKFACE, 64, 0, (150, 100)), size=64)
    out = paste_back(photo, torch.zeros_like(crop)[None], M)
    assert torch.equal(photo, before) and not torch.equal(out, photo)
    far = M.copy()
    far[:, 2] += 5000  # a face far outside the photo
    assert torch.equal(paste_back(photo, crop, far), photo)
    u8 = paste_back((photo * 255).round().byte().permute(1, 2, 0).numpy(), crop, M)
    assert u8.shape == (3, 200, 300) and u8.dtype == torch.float32


# --- measuring a template ------------------------------------------------------------------------

class FakeFace:
    def __init__(self, landmarks, score):
        self.landmarks, self.score = landmarks, score


class FakeDetector:
    """Finds, in each 100 x 80 crop, a face at fixed fractions (plus a little noise), a weaker face
    elsewhere, and nothing in the third crop."""

    fractions = np.array([[0.3, 0.35], [0.7, 0.35], [0.5, 0.55], [0.35, 0.75], [0.65, 0.75]])

    def __init__(self):
        self.calls, self.rng = 0, np.random.default_rng(0)

    def detect(self, image):
        self.calls += 1
        if self.calls == 3:
            return []
        h, w = image.shape[:2]
        lm = self.fractions * [w, h] - 0.5 + self.rng.normal(0, 0.2, (5, 2))
        return [FakeFace(lm[::-1] + 30, 0.4), FakeFace(lm, 0.99)]


def test_measure_template_takes_the_median_of_the_detections():
    crops = [np.zeros((80, 100, 3), np.uint8) for _ in range(9)]
    detector = FakeDetector()
    tpl = measure_template(crops, detector, name="fake")
    assert detector.calls == 9 and tpl.name == "fake"
    np.testing.assert_allclose(tpl.points, FakeDetector.fractions, atol=0.01)
    with pytest.raises(ValueError, match="no face"):
        measure_template(crops[:2], lambda image: [])
