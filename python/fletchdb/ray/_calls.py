"""Waiting on shard calls: the shard's own exception comes back, not Ray's wrapper.

An exception raised in an actor method reaches ``ray.get`` as a ``RayTaskError`` whose
``cause`` is the original, pickled with its class and attributes (FletchDB's exception
classes pickle as ``fletchdb.<Name>``). ``gather`` raises that cause, so callers catch
``fletchdb.DimensionMismatchError`` as with a single collection. Ray's own failures (an
actor that died for good: ``ray.exceptions.RayActorError``) pass through as they are.
"""

from typing import Any, List

import ray
from ray.exceptions import RayTaskError


def gather(refs: List[Any]) -> List[Any]:
    """``ray.get(refs)``, raising a failed call's own exception."""
    try:
        return ray.get(refs)
    except RayTaskError as e:
        cause = getattr(e, "cause", None)
        if isinstance(cause, BaseException):
            raise cause from None
        raise
