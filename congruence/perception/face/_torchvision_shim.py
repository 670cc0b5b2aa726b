"""Pure-torch stand-ins for the two torchvision functions facenet-pytorch imports.

torchvision does not install beside the CPU torch wheel this project pins, and facenet-pytorch
imports exactly ``torchvision.ops.boxes.batched_nms`` and
``torchvision.transforms.functional.to_tensor``. :func:`torchvision_standins` places stand-ins in
``sys.modules`` only while facenet_pytorch is imported, then removes them again so no other
library (transformers probes for torchvision) ever sees a fake torchvision.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np


def nms(boxes: Any, scores: Any, iou_threshold: float) -> Any:
    """Greedy non-maximum suppression: indices of kept boxes, highest score first."""
    import torch

    if boxes.numel() == 0:
        return torch.empty((0,), dtype=torch.int64)
    order = torch.argsort(scores, descending=True)
    b = boxes[order].double()
    x1, y1, x2, y2 = b.unbind(1)
    area = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
    xx1 = torch.maximum(x1[:, None], x1[None, :])
    yy1 = torch.maximum(y1[:, None], y1[None, :])
    xx2 = torch.minimum(x2[:, None], x2[None, :])
    yy2 = torch.minimum(y2[:, None], y2[None, :])
    inter = (xx2 - xx1).clamp(min=0) * (yy2 - yy1).clamp(min=0)
    overlap = (inter / (area[:, None] + area[None, :] - inter).clamp(min=1e-12)).cpu().numpy()
    removed = np.zeros(len(order), dtype=bool)
    keep = []
    for i in range(len(order)):
        if removed[i]:
            continue
        keep.append(i)
        removed |= overlap[i] > iou_threshold
    return order[torch.as_tensor(keep, dtype=torch.int64, device=order.device)]


def batched_nms(boxes: Any, scores: Any, idxs: Any, iou_threshold: float) -> Any:
    """NMS within each category ``idxs`` (boxes of different categories never suppress each other)."""
    import torch

    if boxes.numel() == 0:
        return torch.empty((0,), dtype=torch.int64, device=boxes.device)
    offsets = idxs.to(boxes) * (boxes.max() + 1)
    return nms(boxes + offsets[:, None], scores, iou_threshold)


def to_tensor(pic: Any) -> Any:
    """HWC uint8 image (array or PIL) -> CHW float tensor in [0, 1]."""
    import torch

    arr = np.asarray(pic)
    arr = arr if arr.ndim == 3 else arr[:, :, None]
    t = torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))
    return t.float().div(255) if t.dtype == torch.uint8 else t


@contextmanager
def torchvision_standins() -> Iterator[None]:
    """Install stand-in torchvision modules for the duration of the block (unless a real one exists)."""
    if "torchvision" in sys.modules:
        yield
        return
    tv = types.ModuleType("torchvision")
    ops = types.ModuleType("torchvision.ops")
    boxes_mod = types.ModuleType("torchvision.ops.boxes")
    transforms = types.ModuleType("torchvision.transforms")
    functional = types.ModuleType("torchvision.transforms.functional")
    boxes_mod.batched_nms, boxes_mod.nms = batched_nms, nms  # type: ignore[attr-defined]
    ops.boxes, ops.batched_nms, ops.nms = boxes_mod, batched_nms, nms  # type: ignore[attr-defined]
    functional.to_tensor = to_tensor  # type: ignore[attr-defined]
    transforms.functional = functional  # type: ignore[attr-defined]
    tv.ops, tv.transforms = ops, transforms  # type: ignore[attr-defined]
    mods = {
        "torchvision": tv,
        "torchvision.ops": ops,
        "torchvision.ops.boxes": boxes_mod,
        "torchvision.transforms": transforms,
        "torchvision.transforms.functional": functional,
    }
    sys.modules.update(mods)
    try:
        yield
    finally:
        for name in mods:
            sys.modules.pop(name, None)
