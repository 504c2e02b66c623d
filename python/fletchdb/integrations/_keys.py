"""String keys for FletchDB's integer ids.

LangChain and LlamaIndex name records with strings, FletchDB with integers. A key's id is
the top 63 bits of its 8-byte BLAKE2b hash, and the key itself is kept in the record's
metadata under ``KEY_FIELD``: the mapping lives in the database, so it survives close and
reopen, and finding a key's record is a lookup in the metadata index (every top-level key
is indexed), never a guess from the hash.

Two keys whose hashes collide (among a billion keys, a 5 % chance that any pair does)
are both kept: the later key takes its hash salted with 1, then 2, ..., the first id the
collection does not hold. Since lookups go through the index, nothing needs to remember
which salt a key got, and deleting either key leaves the other findable. The same key
always gets the same id unless it collided when it was added.
"""

import hashlib
from typing import Dict, Iterable, List, Optional, Sequence, Set

import fletchdb

# The metadata field that holds a record's string key. Metadata given by the caller may
# not use it; it is removed from the metadata handed back.
KEY_FIELD = "fletchdb:key"


def key_id(key: str, attempt: int = 0) -> int:
    """The id ``key`` takes on its ``attempt``-th try: BLAKE2b-64 of its UTF-8 bytes, salted
    with ``attempt`` (little-endian), shifted to 63 bits (so never ``NO_ID``)."""
    digest = hashlib.blake2b(
        key.encode("utf-8"), digest_size=8, salt=attempt.to_bytes(16, "little")
    ).digest()
    return int.from_bytes(digest, "little") >> 1


def checked_keys(keys: Iterable[object], *, unique: bool) -> List[str]:
    """``keys`` as a list, refusing anything but ``str`` (TypeError) and, if ``unique``, a
    key given twice (InvalidArgumentError: a write naming one record twice would keep
    only one of them)."""
    out: List[str] = []
    seen: Set[str] = set()
    for key in keys:
        if not isinstance(key, str):
            raise TypeError(f"ids must be str, got {type(key).__name__} {key!r}")
        if unique and key in seen:
            raise fletchdb.InvalidArgumentError(f"id {key!r} is given twice in one call")
        seen.add(key)
        out.append(key)
    return out


def new_ids(collection: Optional[fletchdb.Collection], keys: Sequence[str]) -> Dict[str, int]:
    """Ids for keys the collection does not hold yet: each key's hash, or its first salted
    hash that neither the collection nor an earlier key of this call holds."""
    taken: Set[int] = set()
    out: Dict[str, int] = {}
    for key in keys:
        attempt = 0
        id_ = key_id(key, attempt)
        while id_ in taken or (collection is not None and id_ in collection):
            attempt += 1
            id_ = key_id(key, attempt)
        taken.add(id_)
        out[key] = id_
    return out
