"""Shared test settings: one torch thread per test process keeps the suite fast on 2 cores."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch

torch.set_num_threads(1)
