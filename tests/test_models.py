"""ganprior.models: the inversion methods as deepinv Reconstructors, over a registry of physics x methods."""

import warnings

import deepinv as dinv
import numpy as np
import pytest
import torch

import ganprior
from ganprior import invert
from ganprior.errors import GanpriorError
from ganprior.inversion import Result
from ganprior.inversion.single_code import SingleCode as SingleCodeParameterization
from ganprior.subspaces import Subspaces

R = 16
STEPS = 20


def _compose(*ops):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dinv.physics.compose(*ops)


def _mask():
    m = torch.ones(1, 3, R, R)
    m[..., 4:12, 4:12] = 0
    return m


# name -> a fresh forward model on (B, 3, 16, 16) images in [0, 1]
PHYSICS = {
    "blur": lambda: dinv.physics.BlurFFT(img_size=(3, R, R), filter=torch.ones(1, 1, 3, 3) / 9),
    "inpainting": lambda: dinv.physics.Inpainting(img_size=(3, R, R), mask=_mask()),
    "downsampling": lambda: dinv.physics.Downsampling(img_size=(3, R, R), factor=2, filter="bicubic"),
    "decolorize": lambda: dinv.physics.Decolorize(),
    "composition": lambda: _compose(dinv.physics.Downsampling(img_size=(3, R, R), factor=2, filter="bicubic"),
                                    dinv.physics.Decolorize()),
    "noisy": lambda: dinv.physics.BlurFFT(img_size=(3, R, R), filter=torch.ones(1, 1, 3, 3) / 9,
                                          noise_model=dinv.physics.GaussianNoise(sigma=0.01)),
    "callable": lambda: (lambda x: torch.nn.functional.avg_pool2d(x, 2)),
}


def subspaces(prior, layer=1):
    """Two fixed channel groups, so the test does not learn subspaces."""
    c = prior.composition_layers[layer]
    return Subspaces(layer, 2, np.arange(c) % 2, np.zeros((c, c)), np.zeros(1))


# name -> model of a prior, with few steps
MODELS = {
    "single": lambda p, **kw: ganprior.models.SingleCode(p, steps=STEPS, **kw),
    "multi": lambda p, **kw: ganprior.models.MultiCode(p, steps=STEPS, num_codes=3, layer=1, **kw),
    "subspace": lambda p, **kw: ganprior.models.Subspace(p, steps=STEPS, num_codes=2, layer=1,
                                                         subspaces=subspaces(p), **kw),
    "dgp": lambda p, **kw: ganprior.models.DGP(p, steps=STEPS, num_candidates=8, **kw),
}


def clean(prior, n=2, seed=5):
    with torch.no_grad():
        z = torch.randn(n, *prior.latent_shape, generator=torch.Generator().manual_seed(seed))
        return prior.to_unit(prior.generate(z)).clamp(0, 1)


def observe(physics, x, seed=0):
    return ganprior.as_operator(physics, R).simulate(x, seed)


@pytest.mark.integration
@pytest.mark.parametrize("method", sorted(MODELS))
@pytest.mark.parametrize("physics_name", sorted(PHYSICS))
def test_every_method_on_every_physics(tiny_prior, physics_name, method):
    physics = PHYSICS[physics_name]()
    y = observe(physics, clean(tiny_prior))
    model = MODELS[method](tiny_prior)
    assert isinstance(model, dinv.models.Reconstructor)
    x_hat = model(y, physics)
    r = model.last_result
    assert isinstance(r, Result) and torch.equal(x_hat, r.images)
    assert x_hat.shape == (2, 3, R, R) and torch.isfinite(x_hat).all()
    assert x_hat.min() >= 0 and x_hat.max() <= 1
    assert r.steps > 1 and (r.history[-1] < r.history[0]).all()  # the fit improves from the start
    again = MODELS[method](tiny_prior)(y, physics)
    assert torch.equal(x_hat, again)  # the same seed gives the same output
    assert all(p.grad is None for p in tiny_prior.parameters())


@pytest.mark.parametrize("method", sorted(MODELS))
def test_seed_changes_the_output(tiny_prior, method):
    physics = PHYSICS["downsampling"]()
    y = observe(physics, clean(tiny_prior))
    a = MODELS[method](tiny_prior, seed=1)(y, physics)
    b = MODELS[method](tiny_prior, seed=2)(y, physics)
    assert not torch.equal(a, b)


def test_noise_sigma_stops_the_fit_at_the_noise_level(tiny_prior):
    """Discrepancy principle: with noise sigma, each image stops once its observation MSE falls
    below sigma**2 instead of fitting the noise; stop_mse overrides it, None turns it off."""
    sigma = 0.1
    physics = dinv.physics.BlurFFT(img_size=(3, R, R), filter=torch.ones(1, 1, 3, 3) / 9,
                                   noise_model=dinv.physics.GaussianNoise(sigma=sigma))
    y = observe(physics, clean(tiny_prior), seed=3)
    model = ganprior.models.MultiCode(tiny_prior, steps=200, num_codes=3, layer=1, lr=0.05)
    x_hat = model(y, physics)
    r = model.last_result
    assert (r.stopped_at > 0).all() and r.steps < 200
    fit = (physics.A(x_hat) - y).pow(2).flatten(1).mean(1)
    assert (fit < sigma ** 2).all()
    off = ganprior.models.MultiCode(tiny_prior, steps=200, num_codes=3, layer=1, lr=0.05, stop_mse=None)
    off(y, physics)
    assert off.last_result.stopped_at is None and off.last_result.steps == 200
    assert (off.last_result.history[-1] < r.history[-1]).all()  # left alone, it fits into the noise
    assert model.stop_threshold(ganprior.as_operator(physics, R)) == pytest.approx(sigma ** 2)
    assert ganprior.models.SingleCode(tiny_prior, stop_mse=1e-3).stop_threshold(None) == 1e-3
    noiseless = ganprior.models.SingleCode(tiny_prior, steps=3)
    noiseless(y, PHYSICS["blur"]())
    assert noiseless.last_result.stopped_at is None
    # the plateau rule also reaches a model: with the noise stop off, the fit still ends early
    plateau = ganprior.models.MultiCode(tiny_prior, steps=200, num_codes=3, layer=1, lr=0.05, stop_mse=None,
                                        patience=5, min_improvement=0.05)
    plateau(y, physics)
    assert (plateau.last_result.stopped_at > 0).all() and plateau.last_result.steps < 200
    torch.testing.assert_close(plateau.last_result.history, off.last_result.history[:plateau.last_result.steps])
    with pytest.raises(GanpriorError, match="patience must be a whole number"):
        ganprior.models.SingleCode(tiny_prior, patience=2.5)


def test_mistyped_model_option_fails_at_construction(tiny_prior):
    with pytest.raises(GanpriorError, match=r"MultiCode has no option num_code; its options are num_codes, layer"):
        ganprior.models.MultiCode(tiny_prior, num_code=3)
    with pytest.raises(GanpriorError, match="has no option layer"):
        ganprior.models.SingleCode(tiny_prior, layer=1)
    with pytest.raises(GanpriorError, match="layer 5 is not a composition layer"):
        ganprior.models.MultiCode(tiny_prior, layer=5)
    with pytest.raises(GanpriorError, match="stop_mse"):
        ganprior.models.SingleCode(tiny_prior, stop_mse="noise")
    with pytest.raises(GanpriorError, match="Adam"):
        ganprior.models.DGP(tiny_prior, optimizer="sgd")


def test_invert_refuses_options_its_method_does_not_take(tiny_prior):
    y = clean(tiny_prior, 1)
    identity = PHYSICS["callable"]()
    y = identity(y)
    with pytest.raises(GanpriorError, match=r"method multi has no option num_code; its options are num_codes"):
        invert(y, identity, tiny_prior, method="multi", steps=1, num_code=3)
    with pytest.raises(GanpriorError, match=r"method single has no option num_codes \(an option of multi/subspace\)"):
        invert(y, identity, tiny_prior, method="single", steps=1, num_codes=3)
    with pytest.raises(GanpriorError, match="method dgp has no option layer"):
        invert(y, identity, tiny_prior, method="dgp", steps=1, layer=1, loss="mse")
    # another method's option left at None (what the CLI passes) is ignored
    r = invert(y, identity, tiny_prior, method="single", steps=2, num_codes=None, layer=None, importance_init=None)
    assert r.params["codes"].shape == (1, 8, 1, 1)
    # the parameterisations no longer swallow unknown keywords
    with pytest.raises(TypeError):
        SingleCodeParameterization(tiny_prior, 1, num_codes=3)


def test_prior_by_name_or_path(tiny_checkpoint):
    model = ganprior.models.MultiCode(str(tiny_checkpoint), steps=2, num_codes=2, layer=1)
    assert model.prior.resolution == R and not any(p.requires_grad for p in model.prior.parameters())
    physics = PHYSICS["blur"]()
    assert model(observe(physics, clean(model.prior, 1)), physics).shape == (1, 3, R, R)
    named = ganprior.models.SingleCode("utkface64", steps=1)
    assert named.prior.name == "utkface64" and named.prior.resolution == 64


def test_observation_shape_mismatch_is_a_clear_error(tiny_prior):
    physics = PHYSICS["downsampling"]()
    with pytest.raises(GanpriorError, match=r"observations are \(3, 16, 16\), the physics makes \(3, 8, 8\)"):
        ganprior.models.SingleCode(tiny_prior, steps=1)(torch.rand(1, 3, R, R), physics)


# -- import structure ---------------------------------------------------------------------------------

SRC = __import__("pathlib").Path(ganprior.__file__).resolve().parent
NEW_MODULES = ("ganprior.physics.operator", "ganprior.priors.generic", "ganprior.inversion.methods",
               "ganprior.models", "ganprior.models.base", "ganprior.models.single_code",
               "ganprior.models.multi_code", "ganprior.models.subspace", "ganprior.models.dgp")


def module_imports() -> dict[str, set[str]]:
    """``{module: ganprior modules it imports at module level}`` read with ast (imports inside
    functions run later and cannot make a circle at import time)."""
    import ast
    names = {}
    for path in SRC.rglob("*.py"):
        parts = ("ganprior", *path.relative_to(SRC).with_suffix("").parts)
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {}
    for name, path in names.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = set()
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Import):
                edges |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = package
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                base = f"{base}.{node.module}" if node.level and node.module else (base if node.level else node.module)
                edges.add(base)
                edges |= {f"{base}.{a.name}" for a in node.names}  # `from . import models`
        graph[name] = {e for e in edges if e in names and e != name}
    return graph


def test_new_modules_are_in_no_import_circle():
    graph = module_imports()
    assert set(NEW_MODULES) <= set(graph)

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            for nxt in graph[todo.pop()] - seen:
                if nxt == goal:
                    return True
                seen.add(nxt)
                todo.append(nxt)
        return False

    circles = [m for m in NEW_MODULES if reaches(m, m)]
    assert not circles, circles
    # the forward-model wrapper and the generic prior stay low-level: no solver, API or CLI above them
    for low in ("ganprior.physics.operator", "ganprior.priors.generic"):
        assert not any(reaches(low, high) for high in ("ganprior.inversion", "ganprior.api", "ganprior.models"))
