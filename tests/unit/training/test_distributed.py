"""The collective decisions of the trainer, on real gloo process groups (CPU): the GPU-only batch probe's
agreement, early-stopping/validation broadcast, non-finite agreement."""

from __future__ import annotations

import os
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from chunkformer.training.distributed import World, all_agree, from_main, smallest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, port: int, out: dict) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    world = World(rank, 2, torch.device("cpu"))
    probed = [180.0, 120.0][rank]  # e.g. two GPUs with different free memory
    out[rank] = (smallest(probed, world), all_agree(rank == 0, world), from_main({"wer": 12.5 + rank}, world))
    dist.destroy_process_group()


def test_ranks_agree_on_the_probed_batch_size_and_decisions() -> None:
    with mp.Manager() as m:
        out = m.dict()
        mp.spawn(_worker, args=(_free_port(), out), nprocs=2, join=True)
        got = dict(out)
    assert got[0] == got[1] == (120.0, False, {"wer": 12.5})
