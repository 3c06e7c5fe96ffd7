"""Face detection (ganprior.faces): the bundled RetinaFace finds the faces pasted into a fixed photo
where they were pasted, with landmarks in order, nothing on a face-free image, and keeps its memory
bounded on a big photo; the registry and the JSON form of a face."""

import json
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import ganprior.faces.retinaface as rf
from ganprior.errors import GanpriorError
from ganprior.faces import DETECTORS, Face, FaceDetector, RetinaFace, get_detector, register_detector

pytest.importorskip("onnxruntime", reason="face detection needs onnxruntime")

# two loosely cropped faces: the demo's astronaut crop, and a sample of utkface64 (tests/data)
FACE_FILES = {"astronaut": Path(rf.__file__).resolve().parents[1] / "demo" / "real" / "astronaut.png",
              "prior_sample2": Path(__file__).resolve().parent / "data" / "prior_sample2.png"}
PASTES = {"astronaut": (40, 50), "prior_sample2": (250, 150)}  # top-left corners in the 400 x 300 photo
FACE = 96  # pasted size


def gradient(height: int, width: int) -> np.ndarray:
    """A smooth colour gradient: no structure that could look like a face."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.stack([60 + 140 * xx / width, 90 + 100 * yy / height, 170 - 80 * xx / width], axis=2)
    return img.round().astype(np.uint8)


def demo_face(name: str, size: int = FACE) -> np.ndarray:
    img = Image.open(FACE_FILES[name]).convert("RGB")
    return np.asarray(img.resize((size, size), Image.LANCZOS))


def composite() -> np.ndarray:
    """Two demo faces, 96 px, pasted into a 400 x 300 gradient at ``PASTES``."""
    img = gradient(300, 400)
    for name, (x, y) in PASTES.items():
        img[y:y + FACE, x:x + FACE] = demo_face(name)
    return img


def assert_one_face_per_paste(faces, pastes=PASTES, size=FACE, offset=(0, 0)):
    assert len(faces) == len(pastes), [f.to_json() for f in faces]
    assert [f.score for f in faces] == sorted((f.score for f in faces), reverse=True)
    found = set()
    for f in faces:
        x0, y0, x1, y1 = f.box
        cx, cy = (x0 + x1) / 2 - offset[0], (y0 + y1) / 2 - offset[1]
        hits = [n for n, (px, py) in pastes.items() if px <= cx <= px + size and py <= cy <= py + size]
        assert len(hits) == 1, f.to_json()
        px, py = pastes[hits[0]]
        px, py = px + offset[0], py + offset[1]
        # the box lies on the pasted square (a few pixels of slack) and covers most of the face
        assert px - 6 <= x0 and x1 <= px + size + 6 and py - 6 <= y0 and y1 <= py + size + 6, f.to_json()
        assert 0.4 * size <= f.width <= size and 0.5 * size <= f.height <= 1.1 * size, f.to_json()
        assert f.score >= 0.9
        le, re, nose, ml, mr = f.landmarks
        assert le[0] < re[0] and ml[0] < mr[0]                  # image-left first
        assert max(le[1], re[1]) < nose[1] < min(ml[1], mr[1])  # eyes above the nose above the mouth
        assert (f.landmarks[:, 0] > x0).all() and (f.landmarks[:, 0] < x1).all()
        assert (f.landmarks[:, 1] > y0).all() and (f.landmarks[:, 1] < y1).all()
        found.add(hits[0])
    assert found == set(pastes)


@pytest.fixture(scope="module")
def detector():
    return get_detector("retinaface", threads=1)


def test_the_pasted_faces_are_found_where_they_were_pasted(detector):
    faces = detector.detect(composite())
    assert all(isinstance(f, Face) for f in faces)
    assert_one_face_per_paste(faces)


def test_no_face_on_a_plain_gradient(detector):
    assert detector.detect(gradient(300, 400)) == []


@pytest.mark.parametrize("shape", ["hw", "hw1"])
def test_grayscale_input_is_detected(detector, shape):
    rgb = composite()
    gray = np.asarray(Image.fromarray(rgb).convert("L"))
    faces = detector.detect(gray if shape == "hw" else gray[:, :, None])
    assert_one_face_per_paste(faces)


def test_odd_sized_and_shifted_crops_keep_the_coordinates(detector):
    # 257 x 301 (no multiple of 32 or even 2), cut 13 px into x and 7 px into y
    img = composite()[7:7 + 257, 13:13 + 301]
    faces = detector.detect(img)
    assert_one_face_per_paste(faces, offset=(-13, -7))


def test_a_face_across_tile_edges_is_found_once_and_whole():
    """With small tiles the finest scale cuts both faces; each must still come back once, where the
    untiled detector puts it."""
    img = composite()
    tiled = RetinaFace(max_side=2 * rf.TILE_OVERLAP, threads=1)
    assert len(tiled.plan(300, 400)[0].tiles) > 1
    whole = RetinaFace(max_side=4096, threads=1)
    assert len(whole.plan(300, 400)[0].tiles) == 1
    a, b = tiled.detect(img), whole.detect(img)
    assert_one_face_per_paste(a)
    for fa in a:
        fb = min(b, key=lambda f: abs(f.box[0] - fa.box[0]) + abs(f.box[1] - fa.box[1]))
        # the same face; what differs is the network's context (the tile's border), 3% of the face at most
        assert np.allclose(fa.box, fb.box, atol=0.03 * FACE) and np.allclose(fa.landmarks, fb.landmarks, atol=0.03 * FACE)


def test_a_big_photo_is_looked_at_in_bounded_tiles(monkeypatch):
    """A 6000 x 4000 photo: every network input is at most max_side square, the finest scale costs
    at most max_pixels (plus tile overlaps), no full-size float copy is made, and the face is found."""
    det = RetinaFace(max_pixels=4e6, threads=1)
    img = np.full((4000, 6000, 3), 140, np.uint8)
    img[1500:1900, 2500:2900] = demo_face("astronaut", 400)
    seen = []
    original = RetinaFace.run_tile

    def spy(self, tensor):
        seen.append(tensor.shape)
        return original(self, tensor)

    monkeypatch.setattr(RetinaFace, "run_tile", spy)
    tracemalloc.start()
    try:
        faces = det.detect(img)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert seen and all(s[2] <= det.max_side and s[3] <= det.max_side for s in seen), seen
    levels = det.plan(4000, 6000)
    assert levels[0].width * levels[0].height <= 4e6 * 1.001 and levels[0].scale < 1
    assert sum(s[2] * s[3] for s in seen) <= 2 * 4e6, seen
    assert peak < 80e6, peak  # float32 of the whole photo alone would be 288 MB
    assert len(faces) == 1
    assert_one_face_per_paste(faces, pastes={"astronaut": (2500, 1500)}, size=400)


def test_the_default_plan_bounds_any_photo():
    det = RetinaFace()
    for h, w in [(1, 1), (64, 64), (600, 800), (4000, 6000), (20000, 30000), (5, 40000)]:
        levels = det.plan(h, w)
        assert levels[0].width * levels[0].height <= det.max_pixels * 1.001 + 1
        assert max(levels[-1].width, levels[-1].height) <= max(rf.COARSE_SIDE, round(max(h, w) * levels[0].scale))
        for level in levels:
            assert all(x1 - x0 <= det.max_side and y1 - y0 <= det.max_side for x0, y0, x1, y1 in level.tiles)
        assert levels[0].low == 0 and levels[-1].high == np.inf
    # a small photo is enlarged so the smallest face asked for reaches FACE_PX network pixels
    assert det.plan(600, 800)[0].scale == pytest.approx(rf.FACE_PX / 24)
    assert det.effective_min_face(600, 800) == pytest.approx(24)
    assert det.effective_min_face(4000, 6000) > 24  # capped by max_pixels


def test_anchors_match_the_network_outputs_for_any_size():
    session = rf._session(1)
    for h, w in [(32, 32), (64, 96), (96, 160)]:
        loc = session.run(["loc"], {"input": np.zeros((1, 3, h, w), np.float32)})[0]
        assert loc.shape[1] == len(rf.anchors(h, w)) == 2 * sum((h // s) * (w // s) for s in rf.STRIDES)
    a = rf.anchors(64, 96)
    assert a[0].tolist() == [4, 4, 16, 16] and a[1].tolist() == [4, 4, 32, 32] and a[2].tolist() == [12, 4, 16, 16]


def test_the_network_sees_bgr_minus_the_mean_padded_to_32():
    det = RetinaFace(min_face=rf.FACE_PX, threads=1)  # looked at 1:1
    level, = det.plan(40, 50)
    assert level.scale == 1 and level.tiles == ((0, 0, 50, 40),)
    img = np.zeros((40, 50, 3), np.uint8)
    img[..., 0] = 255  # pure red
    tensor = det.network_input(Image.fromarray(img), level, level.tiles[0])
    assert tensor.shape == (1, 3, 64, 64) and tensor.dtype == np.float32
    assert tensor[0, :, :40, :50].reshape(3, -1).mean(axis=1).tolist() == [-104, -117, 255 - 123]
    assert not tensor[0, :, 40:].any() and not tensor[0, :, :, 50:].any()  # padding: the mean colour


def test_nms_keeps_the_best_of_overlapping_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], float)
    assert rf.nms(boxes, np.array([0.5, 0.9, 0.8]), 0.4).tolist() == [1, 2]


def test_the_weights_ship_with_the_package():
    import fnmatch
    import tomllib
    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    data = project["tool"]["setuptools"]["package-data"]["ganprior"]
    relative = rf.WEIGHTS.relative_to(Path(rf.__file__).resolve().parents[1]).as_posix()
    assert any(fnmatch.fnmatch(relative, pattern) for pattern in data), (relative, data)
    assert any(fnmatch.fnmatch("weights/retinaface_LICENSE.txt", pattern) for pattern in data)
    assert any(d.replace(" ", "").startswith("onnxruntime>=") for d in project["project"]["dependencies"])


def test_the_session_is_built_once_per_process():
    assert rf._session(1) is rf._session(1)


def test_missing_onnxruntime_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(rf, "_SESSIONS", {})
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(GanpriorError, match="pip install 'onnxruntime"):
        RetinaFace(threads=1).detect(gradient(64, 64))


def test_damaged_weights_are_a_clear_error(monkeypatch, tmp_path):
    bad = tmp_path / "retinaface.onnx"
    bad.write_bytes(rf.WEIGHTS.read_bytes()[:-10])
    monkeypatch.setattr(rf, "_SESSIONS", {})
    monkeypatch.setattr(rf, "WEIGHTS", bad)
    with pytest.raises(GanpriorError, match="damaged"):
        RetinaFace(threads=1).detect(gradient(64, 64))


@pytest.mark.parametrize("image, message", [
    (np.zeros((64, 64, 3), np.float32), "uint8"),
    (np.zeros((64, 64, 2), np.uint8), "shape"),
    (np.zeros((0, 64, 3), np.uint8), "empty"),
    ([[0, 1], [2, 3]], "numpy"),
])
def test_bad_images_are_refused(detector, image, message):
    with pytest.raises(GanpriorError, match=message):
        detector.detect(image)


def test_rgba_drops_alpha(detector):
    rgb = composite()
    rgba = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 7, np.uint8)], axis=2)
    assert_one_face_per_paste(detector.detect(rgba))


def test_the_registry_finds_detectors_by_name(monkeypatch):
    assert DETECTORS["retinaface"] is RetinaFace
    assert isinstance(get_detector(), RetinaFace)
    assert get_detector(score_threshold=0.5).score_threshold == 0.5
    with pytest.raises(GanpriorError, match="unknown face detector 'nope'.*retinaface"):
        get_detector("nope")

    monkeypatch.setattr("ganprior.faces.detector.DETECTORS", dict(DETECTORS))
    import ganprior.faces.detector as det_mod

    @register_detector("fixed")
    class Fixed(FaceDetector):
        def detect(self, image):
            return [Face((1, 2, 3, 4), np.zeros((5, 2)), 0.5)]

    assert det_mod.DETECTORS["fixed"] is Fixed and Fixed.name == "fixed"
    assert det_mod.get_detector("fixed").detect(None)[0].score == 0.5
    with pytest.raises(ValueError, match="already registered"):
        register_detector("fixed")(type("Other", (Fixed,), {}))
    with pytest.raises(TypeError):
        register_detector("not-a-detector")(dict)
    with pytest.raises(TypeError):
        FaceDetector()  # abstract


def test_a_face_as_json():
    f = Face(box=(10.123, 20, 30, 45.5), landmarks=np.arange(10, dtype=float).reshape(5, 2) + 0.004,
             score=np.float32(0.987654))
    data = f.to_json()
    assert data == {"box": [10.12, 20.0, 30.0, 45.5],
                    "landmarks": [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0], [6.0, 7.0], [8.0, 9.0]],
                    "score": 0.9877}
    back = Face.from_json(json.loads(json.dumps(data)))
    assert back.box == (10.12, 20.0, 30.0, 45.5) and back.landmarks.shape == (5, 2) and back.score == 0.9877
    assert (f.width, f.height) == pytest.approx((30 - 10.123, 25.5))
    with pytest.raises(GanpriorError, match="landmarks"):
        Face(box=(0, 0, 1, 1), landmarks=np.zeros((4, 2)), score=1)
    with pytest.raises(GanpriorError, match="box"):
        Face(box=(5, 0, 1, 1), landmarks=np.zeros((5, 2)), score=1)
    with pytest.raises(GanpriorError, match="not a face record"):
        Face.from_json({"box": [0, 0, 1, 1]})
