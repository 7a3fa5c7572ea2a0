"""Our torch VAE for mixed tabular features; its encoder mean is the drift preprocess_fn.

alibi-detect 0.11.4 has no PyTorch VAE. This one reconstructs standardised numeric columns with
a Gaussian (squared error) term and the 0/1 columns (one-hot levels, missingness indicators,
binary features) with a Bernoulli (BCE) term, so missingness and category mix shape the latent
space as much as lab values do.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

if TYPE_CHECKING:
    from collections.abc import Sequence

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class VAEConfig:
    """Architecture and training options."""

    latent_dim: int = 8
    hidden_dim: int = 64
    epochs: int = 30
    batch_size: int = 256
    learning_rate: float = 1e-3
    # Weight of the KL term; < 1 keeps the latent informative for two-sample tests.
    beta: float = 0.5
    seed: int = 0


class Encoder(nn.Module):
    """x -> (mu, logvar)."""

    def __init__(self, n_inputs: int, hidden_dim: int, latent_dim: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(n_inputs, hidden_dim), nn.SiLU(), nn.Linear(hidden_dim, hidden_dim // 2), nn.SiLU()
        )
        self.mu = nn.Linear(hidden_dim // 2, latent_dim)
        self.logvar = nn.Linear(hidden_dim // 2, latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)
        return self.mu(h), self.logvar(h)


class EncoderMean(nn.Module):
    """The deterministic embedding used by the drift tests: the encoder's mean, float32."""

    def __init__(self, encoder: Encoder) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu, _ = self.encoder(x.float())
        return mu


class TabularVAE(nn.Module):
    """Encoder + decoder; the decoder outputs means for numeric columns and logits for 0/1 columns."""

    def __init__(self, n_inputs: int, binary_mask: Sequence[bool], config: VAEConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(n_inputs, config.hidden_dim, config.latent_dim)
        self.decoder = nn.Sequential(
            nn.Linear(config.latent_dim, config.hidden_dim // 2), nn.SiLU(),
            nn.Linear(config.hidden_dim // 2, config.hidden_dim), nn.SiLU(),
            nn.Linear(config.hidden_dim, n_inputs),
        )
        self.register_buffer("binary_mask", torch.tensor(list(binary_mask), dtype=torch.bool))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.decoder(z), mu, logvar

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """Negative ELBO (beta-weighted KL), averaged over rows."""
        out, mu, logvar = self(x)
        b = self.binary_mask
        rec = torch.zeros((), device=x.device)
        if (~b).any():
            rec = rec + 0.5 * ((out[:, ~b] - x[:, ~b]) ** 2).sum(1).mean()
        if b.any():
            rec = rec + nn.functional.binary_cross_entropy_with_logits(out[:, b], x[:, b], reduction="none").sum(1).mean()
        kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1).mean()
        return rec + self.config.beta * kl

    def encoder_mean(self) -> EncoderMean:
        """The embedding module handed to alibi-detect as ``preprocess_fn`` model."""
        return EncoderMean(self.encoder).eval()


@dataclass(frozen=True)
class TrainReport:
    """Summary of one VAE training run (numbers only)."""

    epochs: int
    final_loss: float
    seconds: float
    device: str


def train_vae(
    x: np.ndarray, binary_mask: Sequence[bool], config: VAEConfig, device: torch.device
) -> tuple[TabularVAE, TrainReport]:
    """Train the VAE on the preprocessed reference matrix.

    Args:
        x: float32 matrix from :class:`~mlhops.drift.preprocess.TabularPreprocessor`.
        binary_mask: which columns are 0/1.
        config: architecture and training options (``seed`` fixes init and batches).
        device: where to train.

    Returns:
        The trained model (in eval mode, on ``device``) and a training report.
    """
    start = time.perf_counter()
    gen = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    model = TabularVAE(x.shape[1], binary_mask, config).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    data = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(device)
    n = data.shape[0]
    last = float("nan")
    model.train()
    for _ in range(config.epochs):
        order = torch.randperm(n, generator=gen).to(device)
        total = 0.0
        for s in range(0, n, config.batch_size):
            batch = data[order[s : s + config.batch_size]]
            opt.zero_grad(set_to_none=True)
            loss = model.loss(batch)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * batch.shape[0]
        last = total / max(n, 1)
    model.eval()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    report = TrainReport(epochs=config.epochs, final_loss=last, seconds=time.perf_counter() - start, device=device.type)
    logger.info("trained drift VAE: %d epochs, loss %.3f, %.1fs on %s", config.epochs, last, report.seconds, device.type)
    return model, report
