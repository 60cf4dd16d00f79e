"""The published PyTorch CNN (Bustard & Wu 2024), rebuilt as a speed reference on this machine.

    python -m benchmarks.torch_reference [--steps 60] [--repeats 3]

Same architecture as ``build_classifier`` defaults: four 3x3 stride-2 convolutions (8/16/32/64
channels) each with BatchNorm and SiLU, average pooling to 4x4, dropout 0.35, linear layer; Adam,
batch 64 of 128x128 single-channel tiles from memory. PyTorch is a benchmark dependency only (the
``dev`` extra installs the CPU build). Prints images/s and writes
``benchmarks/results/torch_reference.json``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from ._report import write_result


def build(n_classes: int = 5):
    from torch import nn

    layers, channels = [], 1
    for filters in (8, 16, 32, 64):
        layers += [nn.Conv2d(channels, filters, 3, stride=2, padding=1, bias=False),
                   nn.BatchNorm2d(filters), nn.SiLU()]
        channels = filters
    layers += [nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Dropout(0.35),
               nn.Linear(64 * 16, n_classes)]
    return nn.Sequential(*layers)


def training_step(batch: int = 64, size: int = 128):
    """``step(i)``: one Adam step of the reference network on batch ``i % 8`` of 8 random
    batches held in memory (seeded), as our benchmarks' in-memory feed."""
    import torch

    torch.manual_seed(0)
    model = build()
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    x = torch.randn(batch * 8, 1, size, size)
    y = torch.randint(0, 5, (batch * 8,))
    model.train()

    def step(i: int) -> None:
        part = slice((i % 8) * batch, (i % 8 + 1) * batch)
        optimizer.zero_grad()
        loss_fn(model(x[part]), y[part]).backward()
        optimizer.step()

    return step


def measure(steps: int, batch: int = 64, size: int = 128) -> float:
    """Training images/s over ``steps`` steps after 5 warm-up steps."""
    step = training_step(batch, size)
    for i in range(5):
        step(i)
    start = time.perf_counter()
    for i in range(steps):
        step(i)
    return batch * steps / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.torch_reference",
                                     description=__doc__)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results/torch_reference.json")
    args = parser.parse_args(argv)
    import torch

    rates = [measure(args.steps) for _ in range(args.repeats)]
    result = {"benchmark": "torch_reference", "torch": torch.__version__,
              "threads": torch.get_num_threads(), "batch": 64, "tile": 128,
              "images_per_second": statistics.median(rates), "runs": rates}
    write_result(args.out, result)
    print(f"torch_reference published CNN 128x128 batch 64 (torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, median of {args.repeats}): "
          f"{result['images_per_second']:.0f} img/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
