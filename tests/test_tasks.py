"""The task registry: every registered task builds its forward model, simulates seeded inputs, has a
classical inverse, presets in both styles and a DGP schedule; options are validated with one-line
errors; and the modules below the registry (physics, baselines) never import it."""

import ast
import math
from pathlib import Path

import deepinv as dinv
import pytest
import torch

import ganprior.tasks as T
from ganprior.errors import GanpriorError
from ganprior.inversion.dgp import DGPSchedule
from ganprior.physics.masks import center_box_mask
from ganprior.presets import DGP_SCHEDULES, RECIPES, STYLES, dgp_schedule_name, task_preset
from ganprior.tasks import (TASKS, Task, baseline_variants, build_degradation, classical_restore, get_task,
                            parse_task, register, task_options)

R = 16
SRC = Path(T.__file__).resolve().parents[1]  # src/ganprior


def clean(b=2, size=R, seed=0):
    """Smooth colour images in (0.2, 0.8): what every classical inverse should keep in range."""
    low = 0.2 + 0.6 * torch.rand(b, 3, 4, 4, generator=torch.Generator().manual_seed(seed))
    return torch.nn.functional.interpolate(low, size=(size, size), mode="bilinear", align_corners=False)


def build(task, **kw):
    # every option a registered task may require, and a mask at the (full) observed size of one task
    return build_degradation(task, R, factor=2, mask=center_box_mask(R), **kw)


def test_registry_lists_every_task_in_canonical_order():
    assert TASKS == T.task_names() and len(set(TASKS)) == len(TASKS)
    orders = [get_task(t).order for t in TASKS]
    assert orders == sorted(orders)
    assert {"reconstruct", "super-resolve", "colorize", "inpaint", "denoise"} <= set(TASKS)
    for name in TASKS:
        task = get_task(name)
        assert isinstance(task, Task) and task.name == name
        for alias in task.aliases:
            assert get_task(alias) is task and parse_task(alias) == [name]


@pytest.mark.parametrize("name", TASKS)
def test_forward_model_shapes_and_gradient(name):
    deg = build(name)
    x = clean().requires_grad_()
    y = deg.A(x)
    assert y.shape == (2, deg.observed_channels, deg.observed_size, deg.observed_size)
    assert deg.tasks == [name] and deg.name == name
    y.sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


@pytest.mark.parametrize("name", TASKS)
def test_simulate_is_seeded_and_repeatable(name):
    deg = build(name)
    x = clean()
    y = deg.simulate(x, seed=5)
    assert torch.equal(y, deg.simulate(x, seed=5))  # bit-identical for the same seed
    if deg.noise_sigma > 0:
        assert not torch.equal(y, deg.simulate(x, seed=6))
        assert float((y - deg.A(x)).std()) == pytest.approx(deg.noise_sigma, rel=0.15)
    else:
        assert torch.equal(y, deg.A(x))


@pytest.mark.parametrize("chain", ["denoise", "super-resolve+denoise", "colorize+inpaint+denoise"])
def test_noise_is_carried_by_the_deepinv_physics(chain):
    """A deepinv reconstructor handed the physics sees the real sigma, and its forward adds that noise."""
    deg = build_degradation(chain, 64, factor=2, mask=torch.ones(1, 64, 64), noise_sigma=0.2)
    assert float(deg.physics.noise_model.sigma) == pytest.approx(0.2) and deg.noise_sigma == 0.2
    x = torch.full((4, 3, 64, 64), 0.5)
    assert float((deg.physics(x) - deg.A(x)).std()) == pytest.approx(0.2, rel=0.05)
    # the noise is the one drawn from the seed on the CPU, exactly: y + sigma * N(0, 1)
    noise = torch.randn(deg.A(x).shape, generator=torch.Generator().manual_seed(3))
    assert torch.equal(deg.simulate(x, seed=3), deg.A(x) + 0.2 * noise)
    quiet = build_degradation("super-resolve", 64, factor=2)
    assert isinstance(quiet.physics.noise_model, dinv.physics.ZeroNoise) and quiet.noise_sigma == 0.0


@pytest.mark.parametrize("name", [pytest.param(t, marks=pytest.mark.integration) if t == "denoise" else t  # BM3D
                                  for t in TASKS])
def test_classical_inverse_shape_range_and_variants(name):
    pytest.importorskip("skimage")
    deg = build(name, noise_sigma=0.05)
    x = clean()
    y = deg.simulate(x, seed=1)
    variants = baseline_variants(deg)
    if get_task(name).identity:
        assert variants == {}
    for options in [{}, *variants.values()]:
        if "bm3d" in options.values():
            pytest.importorskip("bm3d")
        out = classical_restore(y, deg, **options)
        assert out.shape == (2, 3, R, R) and out.min() >= 0 and out.max() <= 1 and torch.isfinite(out).all()
    # named after the methods the task declares, or (nothing to choose) after the task's answer
    task = get_task(name)
    if task.classical_methods:
        assert list(variants) == list(task.classical_methods)


@pytest.mark.parametrize("name", TASKS)
def test_presets_and_dgp_schedule_in_every_style(name):
    task = get_task(name)
    for style in STYLES:
        recipe = task_preset([name], style)
        assert recipe == RECIPES[style][name] == task.recipes[style]
        assert recipe["method"] in ("single", "multi", "subspace", "dgp")
    assert task_preset([name], "faithful")["perceptual"] == 0.0
    assert task_preset([name], "perceptual")["perceptual"] not in (0, 0.0, None)
    assert task.default_style in STYLES and "layer" in task.method_defaults
    assert DGP_SCHEDULES[name] is task.dgp_schedule and dgp_schedule_name([name]) == name
    columns = {len(v) for v in task.dgp_schedule.values() if isinstance(v, list)}
    assert len(columns) == 1 and DGPSchedule.preset(name).total_steps >= 1000


def test_chain_ranks_pick_the_preset_and_schedule():
    # denoise > inpaint > super-resolve > colorize > reconstruct for presets; inpaint > colorize > SR for DGP
    assert task_preset(["super-resolve", "colorize", "inpaint"], "faithful") == RECIPES["faithful"]["inpaint"]
    assert task_preset(["super-resolve", "denoise"], "perceptual") == RECIPES["perceptual"]["denoise"]
    assert dgp_schedule_name(["super-resolve", "colorize", "denoise"]) == "colorize"
    assert dgp_schedule_name([]) == "reconstruct"


def test_task_options_describe_what_a_chain_needs():
    options = task_options("denoise+super-resolve")
    assert [o.name for o in options] == ["factor", "kernel", "noise_sigma"]
    factor, kernel, sigma = options
    assert (factor.flag, factor.type, factor.default) == ("--factor", int, None)
    assert (kernel.flag, kernel.type, kernel.default) == ("--kernel", str, "bicubic")
    assert (sigma.flag, sigma.type, sigma.default) == ("--noise-sigma", float, 0.1)
    assert task_options("inpaint") == [] and task_options("reconstruct") == []
    names = [o.name for o in task_options()]
    assert len(names) == len(set(names)) and {"factor", "noise_sigma"} <= set(names)


@pytest.mark.parametrize("task,options,message", [
    ("super-resolve", {}, r"^super-resolve needs a factor \(--factor 2\.\.16\)$"),
    ("super-resolve", {"factor": 32}, "must be in 2..16 and divide the prior's resolution 16, got 32"),
    ("super-resolve", {"factor": 3}, "divide"),
    ("super-resolve", {"factor": 2.5}, r"^factor must be an integer, got 2\.5$"),
    ("super-resolve", {"factor": "x2"}, r"^factor must be an integer, got 'x2'$"),
    ("denoise", {"noise_sigma": -0.1}, r"^noise sigma must be finite and >= 0, got -0\.1$"),
    ("denoise", {"noise_sigma": float("nan")}, r"^noise sigma must be finite and >= 0, got nan$"),
    ("denoise", {"noise_sigma": math.inf}, "must be finite"),
])
def test_invalid_options_are_one_line_errors(task, options, message):
    with pytest.raises(GanpriorError, match=message) as e:
        build_degradation(task, R, **options)
    assert "\n" not in str(e.value)


def test_an_unknown_option_is_refused_by_name():
    with pytest.raises(GanpriorError, match=r"^unknown task option sigma; the tasks take .*noise_sigma") as e:
        build_degradation("denoise", R, sigma=0.1)
    assert "\n" not in str(e.value)
    with pytest.raises(GanpriorError, match="unknown task option scale, zoom"):
        build_degradation("super-resolve", R, factor=2, zoom=2, scale=1)
    # the options of tasks outside the chain are accepted and ignored, as the command line passes them
    assert build_degradation("inpaint", R, mask=center_box_mask(R), factor=4, noise_sigma=0.3).noise_sigma == 0.0
    with pytest.raises(GanpriorError, match="classical_restore has no option smoother"):
        classical_restore(clean(), build("reconstruct"), smoother="median")


def test_registering_a_clashing_name_is_refused():
    class Again(Task):
        name = "inpaint"
    with pytest.raises(GanpriorError, match="already registered"):
        register(Again)

    class Alias(Task):
        name = "brand-new"
        aliases = ("sr",)
    with pytest.raises(GanpriorError, match="'sr' is already registered"):
        register(Alias)
    assert "brand-new" not in TASKS


# -- import structure: tasks import the primitives, never the other way round -------------------------

def _modules() -> dict[str, Path]:
    out = {}
    for f in SRC.rglob("*.py"):
        parts = f.relative_to(SRC.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    return out


MODULES = _modules()


def _imports(path: Path) -> set[str]:
    """The ganprior modules a file imports anywhere in it (relative imports resolved; ``from P import M``
    of a submodule M is an import of M, else of P)."""
    package = path.relative_to(SRC.parent).with_suffix("").parts[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = list(package[:len(package) - node.level + 1]) if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            found.update(f"{target}.{a.name}" if f"{target}.{a.name}" in MODULES else target for a in node.names)
    return {name for name in found if name.startswith("ganprior")}


@pytest.mark.parametrize("folder", ["physics", "baselines"])
def test_physics_and_baselines_do_not_import_tasks(folder):
    files = sorted((SRC / folder).glob("*.py"))
    assert files
    for f in files:
        bad = sorted(n for n in _imports(f) if n == "ganprior.tasks" or n.startswith("ganprior.tasks."))
        assert not bad, f"{f.name} imports {bad}"
    # the one way round: a task imports its primitive
    assert "ganprior.baselines.classical" in _imports(SRC / "tasks" / "denoise.py")


def test_no_import_circle_through_tasks_physics_baselines_or_presets():
    graph = {m: {n for n in _imports(f) if n in MODULES and n != m} for m, f in MODULES.items()}
    watched = ("ganprior.tasks", "ganprior.physics", "ganprior.baselines", "ganprior.presets")

    def reaches(start, goal):
        seen, todo = set(), [start]
        while todo:
            m = todo.pop()
            for n in graph[m]:
                if n == goal:
                    return True
                if n not in seen:
                    seen.add(n)
                    todo.append(n)
        return False
    for m in graph:
        if m.startswith(watched):
            circles = sorted(n for n in graph[m] if reaches(n, m))
            assert not circles, f"{m} is in an import circle through {circles}"
