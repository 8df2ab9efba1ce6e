"""moto_server with indexed lookups for the hot spots that make large EC2 fleets O(N^2) on moto 5.2.1.

Usage: python moto_indexed.py -H 127.0.0.1 -p 5000   (same argv as moto_server; started by startMoto({indexedTags}))

Each patch returns exactly what the stock code returns, only without scanning every resource:
- TaggedEC2Resource.get_tags: stock calls describe_tags(filters={"resource-id": [id]}), which walks the whole tag
  store with a regex per tag, for every instance a tag filter looks at and every instance a response serialises.
  The resource-id filter is an anchored fnmatch pattern, so for an id without glob characters it matches exactly
  that id: reading backend.tags[id] gives the same dicts in the same order.
- InstanceBackend.get_instance: stock shallow-copies every reservation to find one id (RunInstances with a profile
  does this twice, ModifyInstanceMetadataOptions once). A per-backend id -> (reservation, instance) index, checked
  against the live reservation on every hit, answers the same instance; a miss scans newest first.
- InstanceBackend.get_reservations_by_instance_ids: stock copies every reservation, then keeps the matching ones;
  copying only the matching ones gives the same list.
- EBSBackend.describe_volumes: RunInstances looks each new root volume up by id with a scan of every volume; for one
  id and no filters, the volume stored under that id is the whole answer (anything else goes to the stock code).

The stock source of every patched function is fingerprinted: a different moto refuses to start (one line on stderr,
exit 3) instead of silently running unpatched or patching code it was not checked against.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import re
import sys
from typing import Any

EXPECTED_MOTO = "5.2.1"
# sha256 of inspect.getsource() of the stock functions these patches replace (moto 5.2.1).
FINGERPRINTS = {
    "TaggedEC2Resource.get_tags": "73ba6daeb7cb331e12f50ef0808a3668d1744ddc368bc7fac962182903edbd5c",
    "TagBackend.describe_tags": "2a65a6b5f69a78e99f5d99277578a75c3416c5db3ef28db20a869e03eff1a03b",
    "InstanceBackend.get_instance": "483df6579b0ce8c6ffce0b7fd5d465e4886330af75dbd15aee0b410821bffa0f",
    "InstanceBackend.get_reservations_by_instance_ids": "81d1b3b2ba0c63a41a0ded57b7096876debaf1b4c703a0ca522dc4b40887cbc1",
    "InstanceBackend.all_reservations": "7d79bae1f47734079aa73ab5eb276f100da67bfb6c8329d788924f50d1c9e55e",
    "EBSBackend.describe_volumes": "69316fdf20a80cc46d20daa22a7f92f92aa61fc75369a24c0d988b529d0c0bff",
}
_GLOB = re.compile(r"[*?\[\]\\]")
_INDEX_ATTR = "_dcp_instance_index"


class PatchError(Exception):
    pass


def _fingerprint(name: str, fn: Any) -> str:
    try:
        return hashlib.sha256(inspect.getsource(fn).encode()).hexdigest()
    except (OSError, TypeError) as err:
        raise PatchError(f"cannot read the source of {name}: {err}") from err


def _scan(reservations: Any, instance_id: str, index: dict[str, tuple[Any, Any]]) -> Any:
    for res in reversed(reservations):
        found = None
        for inst in list(res.instances):
            index[inst.id] = (res, inst)
            if found is None and inst.id == instance_id:
                found = inst
        if found is not None:
            return found
    return None


def apply() -> None:
    """Patches moto in this process; raises PatchError (one line) when moto is not the version checked."""
    try:
        import moto
        from moto.ec2.models import EC2Backend
        from moto.ec2.models.core import TaggedEC2Resource
        from moto.ec2.models.elastic_block_store import EBSBackend
        from moto.ec2.models.instances import InstanceBackend
        from moto.ec2.models.tags import TagBackend
        from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, get_prefix
    except Exception as err:  # noqa: BLE001 - any import failure means the patch cannot apply
        raise PatchError(f"cannot import the moto internals to patch: {type(err).__name__}: {err}") from err

    version = getattr(moto, "__version__", "?")
    if version != EXPECTED_MOTO:
        raise PatchError(f"moto {version} installed, the patches were checked against moto {EXPECTED_MOTO}")
    targets = {
        "TaggedEC2Resource.get_tags": getattr(TaggedEC2Resource, "get_tags", None),
        "TagBackend.describe_tags": getattr(TagBackend, "describe_tags", None),
        "InstanceBackend.get_instance": getattr(InstanceBackend, "get_instance", None),
        "InstanceBackend.get_reservations_by_instance_ids": getattr(
            InstanceBackend, "get_reservations_by_instance_ids", None
        ),
        "InstanceBackend.all_reservations": getattr(InstanceBackend, "all_reservations", None),
        "EBSBackend.describe_volumes": getattr(EBSBackend, "describe_volumes", None),
    }
    for name, fn in targets.items():
        if fn is None:
            raise PatchError(f"moto {version}: {name} is missing")
        if getattr(fn, "_dcp_indexed", False):
            return  # already applied in this process
        if _fingerprint(name, fn) != FINGERPRINTS[name]:
            raise PatchError(f"moto {version}: the source of {name} differs from the one the patch was checked against")
    # EC2Backend must resolve these names to the mixins patched here (nothing in between overrides them).
    for cls, name in (
        (TagBackend, "describe_tags"),
        (InstanceBackend, "get_instance"),
        (InstanceBackend, "get_reservations_by_instance_ids"),
        (InstanceBackend, "all_reservations"),
        (EBSBackend, "describe_volumes"),
    ):
        if getattr(EC2Backend, name) is not getattr(cls, name):
            raise PatchError(f"moto {version}: EC2Backend.{name} is not {cls.__name__}.{name}")

    stock_get_tags = TaggedEC2Resource.get_tags
    stock_get_instance = InstanceBackend.get_instance
    stock_describe_volumes = EBSBackend.describe_volumes

    def get_tags(self: Any) -> list[dict[str, str]]:
        rid = self.id
        if not rid:
            return []
        store = getattr(self.ec2_backend, "tags", None)
        # A glob character in the id would make the stock filter a pattern: let the stock code answer.
        if not isinstance(store, dict) or not isinstance(rid, str) or _GLOB.search(rid):
            return stock_get_tags(self)
        tags = store.get(rid)
        if not tags:
            return []
        rtype = EC2_PREFIX_TO_RESOURCE.get(get_prefix(rid), "")
        return [{"resource_id": rid, "key": k, "value": v, "resource_type": rtype} for k, v in list(tags.items())]

    def get_instance(self: Any, instance_id: str) -> Any:
        index: dict[str, tuple[Any, Any]] | None = self.__dict__.get(_INDEX_ATTR)
        if index is None:
            index = {}
            self.__dict__[_INDEX_ATTR] = index
        hit = index.get(instance_id)
        if hit is not None:
            res, inst = hit
            # Still the live reservation, still holding this instance, still this id: the same answer as a scan.
            if (
                self.reservations.get(res.id) is res
                and inst.id == instance_id
                and any(i is inst for i in res.instances)
            ):
                return inst
            index.pop(instance_id, None)
        # Newest first: the instance just launched is found at once. Ids are unique, so the order does not change
        # which instance answers; everything passed on the way is indexed.
        try:
            found = _scan(self.reservations.values(), instance_id, index)
        except RuntimeError:  # another request thread added a reservation meanwhile: scan a snapshot
            found = _scan(list(self.reservations.values()), instance_id, index)
        # Not found: the stock code raises its own error.
        return found if found is not None else stock_get_instance(self, instance_id)

    def get_reservations_by_instance_ids(self: Any, instance_ids: list[str], filters: Any = None) -> list[Any]:
        from moto.ec2.exceptions import InvalidInstanceIdError
        from moto.ec2.utils import filter_reservations

        reservations = []
        for live in self.reservations.copy().values():
            reservation_instance_ids = [instance.id for instance in live.instances]
            if any(instance_id in reservation_instance_ids for instance_id in instance_ids):
                # The stock code works on copy.copy() of every reservation: copy the ones it keeps.
                reservation = copy.copy(live)
                reservation.instances = [instance for instance in reservation.instances if instance.id in instance_ids]
                reservations.append(reservation)
        found_instance_ids = [instance.id for reservation in reservations for instance in reservation.instances]
        if len(found_instance_ids) != len(instance_ids):
            invalid_id = list(set(instance_ids).difference(set(found_instance_ids)))[0]
            raise InvalidInstanceIdError(invalid_id)
        if filters is not None:
            reservations = filter_reservations(reservations, filters)
        return reservations

    def describe_volumes(self: Any, volume_ids: list[str] | None = None, filters: Any = None) -> list[Any]:
        # Stock: [vol for vol in every volume if vol.id in volume_ids]; volumes are stored under their own id.
        if not filters and isinstance(volume_ids, list) and len(volume_ids) == 1 and isinstance(volume_ids[0], str):
            vol = self.volumes.get(volume_ids[0])
            if vol is not None and vol.id == volume_ids[0]:
                return [vol]
        return stock_describe_volumes(self, volume_ids, filters)

    for fn in (get_tags, get_instance, get_reservations_by_instance_ids, describe_volumes):
        fn._dcp_indexed = True  # type: ignore[attr-defined]
    TaggedEC2Resource.get_tags = get_tags  # type: ignore[method-assign]
    InstanceBackend.get_instance = get_instance  # type: ignore[method-assign]
    InstanceBackend.get_reservations_by_instance_ids = get_reservations_by_instance_ids  # type: ignore[method-assign]
    EBSBackend.describe_volumes = describe_volumes  # type: ignore[method-assign]
    # EC2Backend inherits them through the MRO, but a class attribute copied at import time would not see the patch.
    for cls, name in (
        (InstanceBackend, "get_instance"),
        (InstanceBackend, "get_reservations_by_instance_ids"),
        (EBSBackend, "describe_volumes"),
    ):
        if getattr(EC2Backend, name) is not getattr(cls, name):
            raise PatchError(f"moto {version}: EC2Backend.{name} did not pick up the patch")
    if TaggedEC2Resource.get_tags is not get_tags:
        raise PatchError(f"moto {version}: TaggedEC2Resource.get_tags did not pick up the patch")


def main(argv: list[str]) -> None:
    try:
        apply()
    except Exception as err:  # noqa: BLE001 - whatever went wrong, say it in one line and do not serve unpatched
        why = str(err) if isinstance(err, PatchError) else f"{type(err).__name__}: {err}"
        sys.stderr.write(f"moto_indexed: cannot apply the indexed-lookup patches: {why}\n")
        sys.exit(3)
    from moto.server import main as moto_main

    sys.stderr.write("moto_indexed: indexed tag and instance lookups applied\n")
    moto_main(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
