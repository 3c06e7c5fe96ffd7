"""Face-attribute classifiers for the benchmarks: gender and age from UTKFace file names.

UTKFace names are ``age_gender_race_date.jpg.chip.jpg`` (gender 0 = male, 1 = female), so the
labels are free. ``AttributeNet`` is a small CNN on 64x64 RGB in [0, 1] (it normalises inside, so
attacks and edits work in image space) with two gender logits and, optionally, an age output
(years, L1 regression). The 200 held-out UTKFace images (``ganprior train``'s rule) are never
trained on. The weights are benchmark assets under ``benchmarks/assets`` (float16 safetensors).
UTKFace is for non-commercial research only, and so are these weights.

Used by ``defense.py`` (a gender classifier to attack) and ``editing.py`` (a *labeller* that labels
generated samples to fit directions, and a *judge* trained on the other half of the training split
that scores the edits, so a direction is never scored by the network that defined it).
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from ganprior.training import list_images, split_holdout
from ganprior.training.data import build_image_set

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "benchmarks" / "assets"
CACHE = ROOT / "benchmarks" / "results" / ".cache"
UTKFACE = ROOT.parent / "shared" / "data" / "utkface"
NAME = re.compile(r"^(\d+)_([01])_")
LICENCE = "UTKFace: non-commercial research only; so are these weights"


class AttributeNet(nn.Module):
    """Four stride-2 conv blocks (32-64-128-256) with BatchNorm, global average pooling, a linear
    head: 2 gender logits (+ 1 age output in years when ``age``)."""

    def __init__(self, age: bool = False):
        super().__init__()
        layers, cin = [], 3
        for cout in (32, 64, 128, 256):
            layers += [nn.Conv2d(cin, cout, 3, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                       nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
            cin = cout
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(cin, 3 if age else 2)
        self.age = age

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, 64, 64)`` in [0, 1] -> ``(B, 256)``: the globally pooled features the head reads."""
        return self.features((x - 0.5) / 0.25).mean((2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, 64, 64)`` in [0, 1] -> ``(B, 2)`` gender logits, or ``(B, 3)`` with age in years."""
        out = self.head(self.pooled(x))
        if self.age:
            out = torch.cat([out[:, :2], 40 + 20 * out[:, 2:]], dim=1)
        return out

    def scores(self, x: torch.Tensor, batch: int = 256) -> dict[str, torch.Tensor]:
        """Per image: ``female`` (the logit difference female - male) and ``age`` (years, if any)."""
        self.eval()
        with torch.no_grad():
            out = torch.cat([self(b) for b in x.split(batch)])
        s = {"female": out[:, 1] - out[:, 0]}
        if self.age:
            s["age"] = out[:, 2]
        return s


def need_data() -> None:
    if not UTKFACE.is_dir():
        sys.exit(f"{UTKFACE} not found: this benchmark needs ../shared beside the repository")


def labels_of(files: list[Path]) -> tuple[torch.Tensor, torch.Tensor]:
    """(gender, age) from UTKFace file names."""
    parsed = [NAME.match(f.name) for f in files]
    if not all(parsed):
        raise SystemExit("some UTKFace names carry no age_gender prefix")
    return (torch.tensor([int(m.group(2)) for m in parsed]), torch.tensor([float(m.group(1)) for m in parsed]))


def training_set(part: str = "all") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """uint8 images and (gender, age) of the training split; ``part``: ``all``, or ``a`` / ``b``, two
    disjoint halves (alternate files of the name-sorted list, so both span every age)."""
    need_data()
    train, _ = split_holdout(list_images(UTKFACE), 200)
    CACHE.mkdir(parents=True, exist_ok=True)
    data = build_image_set(train, 64, cache=CACHE)
    names = set(data.files)
    gender, age = labels_of([f for f in train if f.name in names])
    images = data.images
    if part in ("a", "b"):
        keep = torch.arange(int(part == "b"), len(images), 2)
        images, gender, age = images[keep], gender[keep], age[keep]
    return images, gender, age


def train_attribute_net(path: Path, *, part: str = "all", age: bool = False, epochs: int = 6,
                        seed: int = 0) -> AttributeNet:
    """Train on the training split (or one half), check on 1,000 random images of it, save to ``path``."""
    images, gender, years = training_set(part)
    torch.manual_seed(seed)
    net = AttributeNet(age=age)
    # 1,000 random training images check generalisation during training (the held-out 200 stay
    # unseen); random, because the files are sorted by name, i.e. by age
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    val, fit = order[:1000], order[1000:]
    opt = torch.optim.Adam(net.parameters(), 1e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 3e-3, total_steps=epochs * (len(fit) // 128))
    t0 = time.time()
    for epoch in range(epochs):
        net.train()
        for idx in fit[torch.randperm(len(fit))].split(128):
            if len(idx) < 128:
                continue
            x = images[idx].float() / 255
            x = torch.where(torch.rand(len(idx), 1, 1, 1) < 0.5, x.flip(3), x)
            out = net(x)
            loss = nn.functional.cross_entropy(out[:, :2], gender[idx])
            if age:
                loss = loss + nn.functional.l1_loss(out[:, 2], years[idx]) / 10
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        check = evaluate(net, images[val].float() / 255, gender[val], years[val])
        print(f"{path.name} epoch {epoch + 1}: loss {loss.item():.3f}, validation {check} "
              f"({time.time() - t0:.0f}s)", flush=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"data": f"UTKFace training split ({'all' if part == 'all' else 'half ' + part}; "
                    "ganprior holdout rule, 200 held out)", "licence": LICENCE, "epochs": str(epochs),
            "age": str(age), "seconds": f"{time.time() - t0:.0f}",
            **{f"validation_{k}": f"{v:.4f}" for k, v in check.items()}}
    save_file({k: v.half().contiguous() if v.is_floating_point() else v.contiguous()
               for k, v in net.state_dict().items()}, str(path), metadata=meta)
    return net.eval()


def evaluate(net: AttributeNet, x: torch.Tensor, gender: torch.Tensor, years: torch.Tensor | None = None) -> dict:
    """Gender accuracy (and mean absolute age error in years)."""
    s = net.scores(x)
    out = {"gender_accuracy": float(((s["female"] > 0).long() == gender).float().mean())}
    if "age" in s and years is not None:
        out["age_mae"] = float((s["age"] - years).abs().mean())
    return out


def load_attribute_net(path: Path) -> AttributeNet:
    if not path.is_file():
        sys.exit(f"{path} missing: train it first (see the benchmark's --part classifier)")
    with safe_open(str(path), "pt") as fh:
        meta = fh.metadata() or {}
    net = AttributeNet(age=meta.get("age") == "True")
    net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in load_file(str(path)).items()})
    return net.eval().requires_grad_(False)


def metadata(path: Path) -> dict:
    with safe_open(str(path), "pt") as fh:
        return dict(fh.metadata() or {})
