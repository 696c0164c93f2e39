"Helpers for the notebooks' tests (not part of the package). Load as the notebooks do: importlib, from this folder."
import os, contextlib
import torch.distributed as dist

@contextlib.contextmanager
def fake_world(n:int):
    "Make the process count read `n` inside the block (`fastai_bsi.distributed.world_size()`); restore it however the block ends"
    # world_size() reads torch.distributed's count once a process group exists, else fastai's `num_distrib()`, which
    # reads the launcher's WORLD_SIZE variable: set both, so the block sees `n` with or without a process group.
    old_env,old_get = os.environ.get('WORLD_SIZE'),dist.get_world_size
    os.environ['WORLD_SIZE'] = str(n)
    dist.get_world_size = lambda *a, **k: n
    try: yield
    finally:
        dist.get_world_size = old_get
        if old_env is None: os.environ.pop('WORLD_SIZE', None)
        else: os.environ['WORLD_SIZE'] = old_env
