"""Background subtraction, blobs and tracking (gaussmix.video) and ``gaussmix video-bg``."""
import csv

import numpy as np
import pytest
from scipy import ndimage

from gaussmix.video import BackgroundSubtractor, Blob, MultiObjectTracker, find_blobs
from gaussmix.video import _kernels


def _scene(rng, H=48, W=64, C=3):
    shape = (H, W) if C == 1 else (H, W, C)
    return rng.integers(40, 200, size=shape).astype(np.float64)


def _noisy(rng, scene, sigma=3.0):
    return np.clip(np.rint(scene + rng.normal(0, sigma, scene.shape)), 0, 255).astype(np.uint8)


def _video(rng, n=80, H=48, W=64, C=3):
    """A textured noisy scene with a flickering two-colour region, a darkening patch and a
    square crossing the frame: (frames, truth masks of the square)."""
    scene = _scene(rng, H, W, C)
    frames, truth = [], []
    for t in range(n):
        f = scene.copy()
        f[5:15, 5:25] = 90 if t % 3 else 170                # multimodal background
        if t > n // 2:
            f[38:46, 40:60] *= 0.7                           # a shadow-like darkening
        f = _noisy(rng, f)
        m = np.zeros((H, W), bool)
        if t >= 20:
            x0 = 3 * (t - 20) % (2 * (W - 10))           # back and forth, 3 pixels a frame
            x0 = min(x0, 2 * (W - 10) - x0)
            f[20:30, x0:x0 + 10] = 250 if C == 1 else (250, 20, 20)
            m[20:30, x0:x0 + 10] = True
        frames.append(f)
        truth.append(m)
    return frames, truth


@pytest.fixture
def numpy_kernel(monkeypatch):
    """Run the subtractor on the vectorised NumPy kernel instead of the compiled one."""
    monkeypatch.setattr(_kernels, "_numba", None)


# --- agreement with OpenCV and between kernels -------------------------------------------------

@pytest.mark.parametrize("C", [1, 3])
@pytest.mark.parametrize("shadows", [False, True])
@pytest.mark.parametrize("kernel", ["compiled", "numpy"])
def test_masks_equal_opencv_mog2(rng, monkeypatch, C, shadows, kernel):
    cv2 = pytest.importorskip("cv2")
    if kernel == "numpy":
        monkeypatch.setattr(_kernels, "_numba", None)
    else:
        pytest.importorskip("numba")
    frames, _ = _video(rng, C=C)
    ref = cv2.createBackgroundSubtractorMOG2(history=40, varThreshold=16, detectShadows=shadows)
    ref.setComplexityReductionThreshold(0.05)
    ours = BackgroundSubtractor(history=40, detect_shadows=shadows)
    n_diff, seen = 0, set()
    for f in frames:
        a, b = ref.apply(f), ours.apply(f)
        n_diff += int((a != b).sum())
        seen |= set(np.unique(b).tolist())
    # the same float32 operations in the same order: identical masks
    assert n_diff == 0
    assert seen == ({0, 127, 255} if shadows else {0, 255})
    np.testing.assert_array_equal(ours.background_image(), ref.getBackgroundImage())


@pytest.mark.parametrize("C", [1, 3, 4])
def test_numpy_kernel_state_equals_compiled(rng, C):
    pytest.importorskip("numba")
    frames, _ = _video(rng, C=min(C, 3))
    if C == 4:   # any number of channels: add a fourth that flickers on its own
        frames = [np.dstack([f, rng.choice(np.array([60, 160], np.uint8), f.shape[:2])])
                  for f in frames]
    fast = BackgroundSubtractor(n_components=3, history=30, detect_shadows=True)
    slow = BackgroundSubtractor(n_components=3, history=30, detect_shadows=True)
    for i, f in enumerate(frames):
        lr = 0.02 if i % 7 == 3 else None  # fixed and automatic rates both
        m1 = fast.apply(f, learning_rate=lr)
        keep = _kernels._numba
        _kernels._numba = None
        try:
            m2 = slow.apply(f, learning_rate=lr)
        finally:
            _kernels._numba = keep
        np.testing.assert_array_equal(m1, m2)
    for key in ("weight", "var", "mean", "nmodes"):
        np.testing.assert_array_equal(fast._state[key], slow._state[key])


def test_weights_stay_normalised_and_sorted(rng, numpy_kernel):
    frames, _ = _video(rng, n=50)
    bg = BackgroundSubtractor(history=20)
    for f in frames:
        bg.apply(f)
    st = bg._state
    nm = st["nmodes"].astype(int)
    assert nm.min() >= 1 and nm.max() <= 5
    used = np.arange(5)[None, :] < nm[:, None]
    w = np.where(used, st["weight"], 0)
    # a new mode enters after the renormalisation with weight alpha, the others scaled by
    # 1 - alpha: the sum stays 1
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-4)
    assert (np.diff(np.where(used, w, -1), axis=1) <= 1e-7).all()
    v = st["var"][used]
    assert v.min() >= 4.0 and v.max() <= 75.0


# --- behaviour ---------------------------------------------------------------------------------

@pytest.mark.parametrize("C", [1, 3])
def test_static_noisy_scene_has_no_foreground_after_warmup(rng, C):
    scene = _scene(rng, C=C)
    bg = BackgroundSubtractor(history=100)
    fractions = [(bg.apply(_noisy(rng, scene)) > 0).mean() for _ in range(120)]
    # noise of 3 grey levels is within 4 sigma of the learned modes
    assert max(fractions[30:]) < 1e-3
    assert fractions[0] == 1.0  # on the first frame no pixel has a model yet (as in MOG2)
    bgi = bg.background_image()
    assert bgi.dtype == np.uint8 and bgi.shape == scene.shape
    assert np.abs(bgi - scene).max() <= 3


def test_moving_square_is_detected(rng):
    frames, truth = _video(rng)
    bg = BackgroundSubtractor(history=100)
    ious = []
    for t, (f, m) in enumerate(zip(frames, truth)):
        fg = bg.apply(f) == 255
        if 20 <= t < 38:   # the first pass: every frame the square covers fresh background
            ious.append((fg & m).sum() / (fg | m).sum())
    assert min(ious) > 0.9
    # the flickering region is learned as a two-mode background
    assert bg.n_modes_[6:14, 6:24].min() >= 2


def test_float_frames_give_the_same_masks_as_uint8(rng):
    frames, _ = _video(rng, n=40)
    a, b = BackgroundSubtractor(), BackgroundSubtractor()
    for f in frames:
        np.testing.assert_array_equal(a.apply(f), b.apply(f.astype(np.float32)))
    assert b.background_image().dtype == np.float32
    np.testing.assert_allclose(b.background_image(), a.background_image(), atol=0.5 + 1e-4)


def test_shadow_of_background_is_labelled_127(rng):
    scene = rng.integers(120, 200, size=(40, 40, 3)).astype(float)
    kw = dict(history=50)
    on, off = BackgroundSubtractor(detect_shadows=True, **kw), BackgroundSubtractor(**kw)
    for _ in range(60):
        f = _noisy(rng, scene, 2.0)
        on.apply(f)
        off.apply(f)
    dark = scene.copy()
    dark[10:30, 10:30] *= 0.7
    dark[0:5, 0:5] = (20, 240, 20)  # a real object, not a darker copy
    f = _noisy(rng, dark, 2.0)
    m_on, m_off = on.apply(f), off.apply(f)
    assert (m_on[10:30, 10:30] == 127).mean() > 0.95
    assert (m_off[10:30, 10:30] == 255).mean() > 0.95
    assert (m_on[0:5, 0:5] == 255).all()
    assert (m_on[32:, 32:] == 0).all()


def test_learning_rate_zero_freezes_and_one_restarts(rng):
    scene = _scene(rng)
    bg = BackgroundSubtractor(history=30)
    for _ in range(40):
        bg.apply(_noisy(rng, scene))
    state = {k: v.copy() for k, v in bg._state.items() if isinstance(v, np.ndarray)}
    other = _noisy(rng, scene[::-1])
    m = bg.apply(other, learning_rate=0.0)
    assert (m == 255).mean() > 0.5
    for k, v in state.items():  # weights are renormalised: equal up to rounding
        np.testing.assert_allclose(bg._state[k], v, rtol=1e-6, atol=0)
    m = bg.apply(other, learning_rate=1.0)   # restart: the frame is the new background
    assert bg.n_frames_ == 1 and (m == 255).all()
    assert not bg.apply(other).any()
    np.testing.assert_array_equal(bg.background_image(), other)


def test_new_frame_shape_restarts(rng):
    bg = BackgroundSubtractor()
    bg.apply(_noisy(rng, _scene(rng)))
    bg.apply(_noisy(rng, _scene(rng)))
    assert bg.n_frames_ == 2
    g = _noisy(rng, _scene(rng, 10, 12, C=1))
    assert (bg.apply(g) == 255).all()
    assert bg.n_frames_ == 1 and bg.frame_shape_ == (10, 12)


# --- validation --------------------------------------------------------------------------------

@pytest.mark.parametrize("name, value", [
    ("n_components", 0), ("n_components", 2.5), ("history", 0), ("var_threshold", -1.0),
    ("background_ratio", 1.5), ("var_init", 0.0), ("complexity_reduction", 1.0),
    ("detect_shadows", "yes"), ("learning_rate", 2.0), ("shadow_threshold", -0.1),
    ("var_min", float("nan")),
])
def test_bad_parameter_is_named(name, value):
    bg = BackgroundSubtractor(**{name: value})
    with pytest.raises(ValueError, match=f"'{name}' parameter of BackgroundSubtractor"):
        bg.apply(np.zeros((4, 4), np.uint8))


def test_bad_inputs_are_named():
    bg = BackgroundSubtractor(var_min=10.0, var_max=5.0)
    with pytest.raises(ValueError, match="'var_min'.*must not exceed 'var_max'"):
        bg.apply(np.zeros((4, 4)))
    bg = BackgroundSubtractor()
    with pytest.raises(ValueError, match="shape"):
        bg.apply(np.zeros(5))
    with pytest.raises(ValueError, match="NaN"):
        bg.apply(np.full((3, 3), np.nan))
    with pytest.raises(ValueError, match="'learning_rate' parameter of apply"):
        bg.apply(np.zeros((3, 3)), learning_rate=-0.5)
    with pytest.raises(RuntimeError, match="apply"):
        BackgroundSubtractor().background_image()


# --- blobs -------------------------------------------------------------------------------------

def test_blobs_exact_on_a_synthetic_mask(rng):
    mask = np.zeros((40, 50), np.uint8)
    mask[2:7, 3:11] = 255                          # 5 x 8 rectangle
    mask[20:30, 30:33] = 255
    mask[25, 33:40] = 255                          # an L shape
    mask[35, 45] = 255                             # a single pixel
    mask[10:12, 40:42] = 127                       # a shadow, not foreground
    blobs = find_blobs(mask)
    assert len(blobs) == 3
    # references: the pixel coordinates of each connected piece, by a naive scan
    ref = []
    for piece in ([(y, x) for y in range(2, 7) for x in range(3, 11)],
                  [(y, x) for y in range(20, 30) for x in range(30, 33)]
                  + [(25, x) for x in range(33, 40)],
                  [(35, 45)]):
        ys, xs = np.array(piece).T
        ref.append(Blob(0, len(piece), (xs.mean(), ys.mean()),
                        (xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1)))
    for b, r in zip(blobs, ref):
        assert b.area == r.area and b.bbox == tuple(int(v) for v in r.bbox)
        np.testing.assert_allclose(b.centroid, r.centroid, rtol=0, atol=1e-12)
    assert [b.area for b in find_blobs(mask, min_area=2)] == [40, 37]
    assert len(find_blobs(mask, include_shadows=True)) == 4


def test_blobs_connectivity_opening_and_labels():
    m = np.zeros((12, 12), bool)
    m[2, 2] = m[3, 3] = True                       # corner-touching pixels
    m[6:11, 6:11] = True
    m[8, 0:6] = True                               # a one-pixel bridge-like arm
    assert len(find_blobs(m, connectivity=8)) == 2
    assert len(find_blobs(m, connectivity=4)) == 3
    blobs, labels = find_blobs(m, opening=1, return_labels=True)
    assert [(b.area, b.bbox) for b in blobs] == [(25, (6, 6, 5, 5))]
    assert set(np.unique(labels).tolist()) == {0, blobs[0].label}
    np.testing.assert_array_equal(labels > 0, ndimage.binary_opening(m, np.ones((3, 3))))
    with pytest.raises(ValueError, match="'connectivity' parameter of find_blobs"):
        find_blobs(m, connectivity=6)
    with pytest.raises(ValueError, match="2-dimensional"):
        find_blobs(np.zeros((2, 2, 2)))


# --- tracking ----------------------------------------------------------------------------------

def _crossing(n=40, merge=range(18, 23)):
    """Two objects crossing: A from the left, B from the right; while they overlap a single
    merged detection halfway between them."""
    frames = []
    for t in range(n):
        a = (10.0 + 3 * t, 20.0 + 1.0 * t)
        b = (130.0 - 3 * t, 60.0 - 1.0 * t)
        if t in merge:
            frames.append(([((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)], None))
        else:
            frames.append(([a, b] if t % 2 else [b, a], (a, b)))
    return frames


def test_tracker_keeps_identities_of_crossing_objects():
    mot = MultiObjectTracker(max_distance=15.0, min_hits=2, max_misses=8)   # default noises
    owner = {}
    for t, (dets, truth) in enumerate(_crossing()):
        tracks = mot.update(dets)
        if truth is None or t < 3:
            continue
        assert len(tracks) == 2
        for tr in tracks:
            which = int(np.argmin([np.hypot(*(np.subtract(tr.position, p))) for p in truth]))
            owner.setdefault(tr.id, which)
            assert owner[tr.id] == which, f"track {tr.id} switched objects at frame {t}"
    assert sorted(owner) == [1, 2]
    vel = {owner[tr.id]: tr.velocity for tr in mot.tracks_}
    np.testing.assert_allclose(vel[0], (3.0, 1.0), atol=0.2)
    np.testing.assert_allclose(vel[1], (-3.0, -1.0), atol=0.2)


def test_tracker_birth_confirmation_and_death():
    mot = MultiObjectTracker(min_hits=3, max_misses=2)
    assert mot.update([(5.0, 5.0)]) == []          # tentative
    assert mot.update([(6.0, 5.0)]) == []
    tracks = mot.update([(7.0, 5.0)])
    assert [t.id for t in tracks] == [1] and tracks[0].hits == 3
    assert [t.id for t in mot.update([(200.0, 200.0)])] == [1]   # coasting; a new tentative
    assert [t.id for t in mot.update([])] == [1]
    assert mot.update([]) == []                    # third miss: dead
    assert mot.tracks_ == []
    # a tentative track dies at its first miss
    mot.update([(50.0, 50.0)])
    mot.update([])
    assert mot.tracks_ == []
    assert mot.update([(1.0, 1.0)]) == [] and mot.tracks_[0].id == 4


def test_tracker_kalman_step_matches_the_textbook_filter():
    mot = MultiObjectTracker(max_distance=100.0, min_hits=1, process_noise=0.5,
                             measurement_noise=2.0)
    zs = [(1.0, 2.0), (2.5, 2.2), (4.2, 2.1), (5.9, 2.6)]
    mot.update([zs[0]])
    s = np.array([1.0, 2.0, 0.0, 0.0])
    P = np.diag([2.0, 2.0, 1e4, 1e4])
    F = np.array([[1, 0, 1, 0], [0, 1, 0, 1], [0, 0, 1, 0], [0, 0, 0, 1]], float)
    q = 0.5 * np.array([[1 / 3, 1 / 2], [1 / 2, 1]])
    Q = np.zeros((4, 4))
    Q[np.ix_([0, 2], [0, 2])] = q
    Q[np.ix_([1, 3], [1, 3])] = q
    H = np.eye(2, 4)
    for z in zs[1:]:
        (tr,) = mot.update([z])
        s, P = F @ s, F @ P @ F.T + Q
        K = P @ H.T @ np.linalg.inv(H @ P @ H.T + 2.0 * np.eye(2))
        s, P = s + K @ (np.array(z) - H @ s), (np.eye(4) - K @ H) @ P
        np.testing.assert_allclose(tr.state, s, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(tr.covariance, P, rtol=1e-7, atol=1e-9)


def test_tracker_bad_parameters_are_named():
    with pytest.raises(ValueError, match="'max_distance' parameter of MultiObjectTracker"):
        MultiObjectTracker(max_distance=0).update([])
    with pytest.raises(ValueError, match="'min_hits'"):
        MultiObjectTracker(min_hits=0).update([])
    with pytest.raises(ValueError, match="finite"):
        MultiObjectTracker().update([(np.nan, 1.0)])


def test_subtractor_blobs_and_tracker_follow_a_square(rng):
    # one pass and back (a third visit of the same pixels would find the square's colour
    # partly learned as background); the darkening is a shadow, which blobs leave out
    frames, truth = _video(rng, n=56)
    bg = BackgroundSubtractor(history=100, detect_shadows=True)
    mot = MultiObjectTracker(max_distance=10.0)
    ids = set()
    for t, (f, m) in enumerate(zip(frames, truth)):
        tracks = mot.update(find_blobs(bg.apply(f), min_area=20, opening=1))
        ids |= {tr.id for tr in tracks}
        if t >= 30 and m.any():
            (tr,) = tracks
            ys, xs = np.nonzero(m)
            assert np.abs(np.subtract(tr.bbox, (xs.min(), ys.min(), 10, 10))).max() <= 1
            # close while the motion is uniform; after the reversal at t = 38 (a velocity
            # change of 6 pixels a frame) the constant-velocity filter lags for a while
            tol = 1.0 if t < 38 else 7.0
            np.testing.assert_allclose(tr.position, (xs.mean(), ys.mean()), atol=tol)
    assert len(ids) == 1


# --- command line ------------------------------------------------------------------------------

def _write_video(path, frames, codec="ffv1"):
    av = pytest.importorskip("av")
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=10)
        s.height, s.width = frames[0].shape[:2]
        s.pix_fmt = "bgr0" if codec == "ffv1" else "yuv420p"
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def _read_video(path):
    import av
    with av.open(str(path)) as c:
        return [fr.to_ndarray(format="gray") for fr in c.decode(c.streams.video[0])]


def test_cli_video_bg_round_trip(rng, tmp_path, capsys):
    from gaussmix.cli import main
    frames, truth = _video(rng, n=56)
    src = tmp_path / "in.mkv"
    _write_video(src, frames)
    out, tracks = tmp_path / "mask.mkv", tmp_path / "tracks.csv"
    code = main(["video-bg", str(src), "-o", str(out), "--tracks", str(tracks),
                 "--history", "100", "--codec", "ffv1", "--shadows", "--json"])
    assert code == 0, capsys.readouterr().err
    masks = _read_video(out)
    assert len(masks) == len(frames)
    ref = BackgroundSubtractor(history=100, detect_shadows=True)
    for f, m in zip(frames, masks):
        np.testing.assert_array_equal(m, ref.apply(f))   # lossless codec: the exact masks
    rows = list(csv.DictReader(open(tracks)))
    assert len({r["track"] for r in rows}) == 1
    assert len(rows) > 30
    for r in rows:   # the box of the detection assigned to the track is the square's
        ys, xs = np.nonzero(truth[int(r["frame"])])
        box = [int(r[k]) for k in ("box_x", "box_y", "box_w", "box_h")]
        assert np.abs(np.subtract(box, (xs.min(), ys.min(), 10, 10))).max() <= 1, r
    # a lossy default codec writes a mask video too
    assert main(["video-bg", str(src), "-o", str(tmp_path / "m.mp4"), "-q"]) == 0
    assert len(_read_video(tmp_path / "m.mp4")) == len(frames)


def test_cli_video_bg_refuses_the_input_and_bad_names(tmp_path, capsys):
    from gaussmix.cli import main
    src = tmp_path / "in.mkv"
    _write_video(src, [np.zeros((8, 8, 3), np.uint8)] * 3)
    before = src.read_bytes()
    assert main(["video-bg", str(src), "-o", str(src)]) == 2
    assert "refusing to overwrite an input" in capsys.readouterr().err
    assert main(["video-bg", str(src), "-o", str(tmp_path / "m.mkv"),
                 "--tracks", str(src)]) == 2
    assert main(["video-bg", str(src), "-o", str(tmp_path / "m.txt")]) == 2
    assert "write the mask video as one of" in capsys.readouterr().err
    assert main(["video-bg", str(src), "-o", str(tmp_path / "m.mkv"), "--history", "0"]) == 2
    assert "'history' parameter" in capsys.readouterr().err
    assert src.read_bytes() == before
    (tmp_path / "bad.mkv").write_bytes(b"not a video")
    assert main(["video-bg", str(tmp_path / "bad.mkv"), "-o", str(tmp_path / "m.mkv")]) == 2
    assert not (tmp_path / "m.mkv").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.mkv", "in.mkv"]
