"""A feed-forward network in PyTorch, trained on CUDA when present and on the CPU otherwise."""

from __future__ import annotations

import time
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from fraudcore.models.base import FraudModel


def training_device(requested: str = "auto") -> torch.device:
    """``auto``: CUDA when present, else the CPU; ``cuda`` or ``cpu`` to choose."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("training device 'cuda' asked for, but PyTorch sees no CUDA device")
    return torch.device(requested)


class TorchFraudModel(FraudModel):
    """MLP on standardised features (log-scaled where heavy-tailed), class-weighted BCE loss."""

    model_type = "torch"
    default_params: ClassVar[dict[str, Any]] = {
        "hidden": [128, 64],
        "dropout": 0.2,
        "epochs": 12,
        "batch_size": 1024,
        "learning_rate": 2e-3,
        "weight_decay": 1e-5,
        "seed": 0,
        "device": "auto",
    }

    def _prepare(self, x: np.ndarray) -> np.ndarray:
        x = np.sign(x) * np.log1p(np.abs(x))
        return ((x - self.mean) / self.std).astype(np.float32)

    def _network(self, n_inputs: int) -> nn.Module:
        layers: list[nn.Module] = []
        width = n_inputs
        for hidden in self.params["hidden"]:
            layers += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(self.params["dropout"])]
            width = hidden
        layers.append(nn.Linear(width, 1))
        return nn.Sequential(*layers)

    def _fit(self, x: np.ndarray, y: np.ndarray) -> None:
        torch.manual_seed(self.params["seed"])
        device = training_device(self.params["device"])
        logged = np.sign(x) * np.log1p(np.abs(x))
        self.mean, self.std = logged.mean(axis=0), logged.std(axis=0) + 1e-6
        inputs = torch.from_numpy(self._prepare(x)).to(device)
        labels = torch.from_numpy(y).to(device)
        network = self._network(x.shape[1]).to(device)
        optimizer = torch.optim.AdamW(
            network.parameters(), lr=self.params["learning_rate"], weight_decay=self.params["weight_decay"]
        )
        positive_weight = torch.tensor((len(y) - y.sum()) / max(y.sum(), 1.0), device=device).sqrt()
        loss_function = nn.BCEWithLogitsLoss(pos_weight=positive_weight)
        batch = self.params["batch_size"]
        started = time.monotonic()
        for epoch in range(self.params["epochs"]):
            network.train()
            order = torch.randperm(len(labels), device=device)
            total = torch.zeros((), device=device)  # summed on the device: no sync per step
            for first in range(0, len(order), batch):
                rows = order[first : first + batch]
                optimizer.zero_grad()
                loss = loss_function(network(inputs[rows]).squeeze(1), labels[rows])
                loss.backward()
                optimizer.step()
                total += loss.detach() * len(rows)
            print(
                f"torch epoch {epoch + 1}/{self.params['epochs']} on {device}: "
                f"loss {float(total) / len(labels):.4f} "
                f"({time.monotonic() - started:.1f} s)",
                flush=True,
            )
        self.training_device = str(device)
        self.training_seconds = time.monotonic() - started
        self.network = network.to("cpu").eval()

    def _score(self, x: np.ndarray) -> np.ndarray:
        threads = getattr(self, "scoring_threads", None)
        if threads and torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        with torch.no_grad():
            logits = self.network(torch.from_numpy(self._prepare(x))).squeeze(1)
        return torch.sigmoid(logits).numpy().astype(np.float64)
