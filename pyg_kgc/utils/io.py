import os
import os.path as osp

import torch


def atomic_save(obj: object, path: str) -> None:
    r"""Saves :obj:`obj` with :func:`torch.save` to :obj:`path` through a
    temporary file beside it that is renamed into place only once fully
    written: an interrupted or failed save leaves no file at :obj:`path`
    (or the previous one) and no temporary."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    tmp = f'{path}.{os.getpid()}.tmp'
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)
