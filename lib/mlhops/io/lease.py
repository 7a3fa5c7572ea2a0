"""The warehouse writer lease: one writing run at a time per warehouse.

**What it protects.** Runs that assign OMOP ids and write the OMOP tables (the ``etl`` stage)
read ``mlhops.id_map`` and then MERGE into it and into ``omop.*``. Two such runs at once on one
warehouse would hand out the same ids to different patients, and the later ``person`` MERGE
would overwrite one patient with another. A run therefore holds the lease for the whole time it
assigns ids and writes (:func:`writer_lease`); a second run waits for it. The stage runner
(:mod:`mlhops.pipelines.orchestrate`) takes it for every stage that writes shared tables (stats,
features, score, evaluate, promote, alerts, drift, ...), so no two runs interleave their writes.

**How.** ``mlhops.writer_lease`` holds at most one row per scope (``warehouse``): the holder's
run id, stage, a random claim token, when it was acquired, its last heartbeat and when it
expires. A claim is one conditional Delta MERGE: insert the row when there is none, take it over
when the current one has expired (or is this claim's own), else leave it. Delta's optimistic
concurrency makes two claims at once conflict (one commit fails and is retried); the claimant
then reads the row back and holds the lease only if the row carries its own token. The very
first claim creates the table with its row (``errorifexists``, so one of two creators wins).

**Expiry.** While held, a daemon thread renews ``expires_at`` every ``heartbeat_s`` seconds
(``ttl_s`` ahead). A run that is killed (``kill -9``, lost driver) stops renewing; its lease
expires ``ttl_s`` after the last heartbeat and the next run takes it over. A run that exits
normally (success or error) deletes its row at once. A holder whose renewal finds the row gone
or taken over (its heartbeat stalled past ``ttl_s``) is told so at its next :meth:`Lease.check`
(a :class:`LeaseLostError`) rather than writing on.

**A dead holder on this host.** The claim token names the holder's process:
``<host>/<pid namespace>:<pid>:<process start ticks>:<random>``. A claimant that finds an
unexpired row whose token names a process of its own host and pid namespace that no longer runs
(no such pid, or a pid reused by a process started at another time) takes the row over at once,
with a MERGE conditioned on that very token (so of two claimants only one wins, and a row renewed
or taken over meanwhile is left alone). A holder on another host, or one whose liveness cannot
be read (no ``/proc``), is waited for until its lease expires.

**Re-entrance.** A process that already holds the lease for a run id and asks again for the same
run id (the stage runner holds it for a whole ``nightly``; a stage such as ``etl`` asks again
inside) gets the held lease back: no second claim, and only the outermost block releases it.

**What a user sees.** A run that finds the warehouse busy logs the holder and waits, polling
every ``poll_s`` seconds, up to ``wait_s`` seconds; then it fails with
:class:`WarehouseBusyError`: ``warehouse busy: run X (stage etl) holds the writer lease since T
(last heartbeat H, expires E); waited W s. Wait for run X to finish and re-run, or, if it was
killed, re-run after E ...``. The message names run ids and times only, never data.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from delta.tables import DeltaTable
from pyspark.errors import AnalysisException
from pyspark.sql import Row, SparkSession
from pyspark.sql import functions as F

from mlhops.errors import MLHOpsError
from mlhops.io.catalog import Catalog
from mlhops.io.delta import CONCURRENT_WRITE_ERRORS, delta_table, read_table, save, table_exists
from mlhops.io.delta_sql import sql_literal
from mlhops.io.tables.core import WRITER_LEASE, WRITER_LEASE_SCHEMA

logger = logging.getLogger(__name__)


# The one scope there is today: the whole warehouse.
WAREHOUSE_SCOPE = "warehouse"


class WarehouseBusyError(MLHOpsError):
    """Another run held the writer lease for longer than this run would wait."""


class LeaseLostError(MLHOpsError):
    """This run's lease expired or was taken over while it was still writing."""


@dataclass(frozen=True)
class LeaseTiming:
    """How long a lease lives without a heartbeat, how often it is renewed, how long a claimant
    waits for a busy warehouse and how often it looks again (seconds)."""

    ttl_s: float = 300.0
    heartbeat_s: float = 60.0
    wait_s: float = 1800.0
    poll_s: float = 5.0

    def __post_init__(self) -> None:
        if not 0 < self.heartbeat_s < self.ttl_s:
            raise ValueError("lease heartbeat_s must be positive and below ttl_s")
        if self.wait_s < 0 or self.poll_s <= 0:
            raise ValueError("lease wait_s must be >= 0 and poll_s > 0")


DEFAULT_TIMING = LeaseTiming()

# Held leases of this process by (lease table path, scope): re-entrant per run id.
_HELD: dict[tuple[str, str], Lease] = {}
_HELD_LOCK = threading.Lock()
_CLOCK_FIELD = 21  # /proc/<pid>/stat: the process start time (clock ticks since boot), 0-based after the name


def _host() -> str:
    """This host and pid namespace: pids are comparable only within one."""
    try:
        ns = os.readlink("/proc/self/ns/pid")
    except OSError:
        ns = "?"
    return f"{socket.gethostname()}/{ns}".replace(":", "")


def _start_ticks(pid: int) -> str | None:
    """The start time of process ``pid`` (clock ticks since boot), None when it does not run or
    cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            stat = fh.read()
    except OSError:
        return None
    # the name (2nd field) is in parentheses and may hold spaces: split after its closing one
    fields = stat[stat.rfind(")") + 2:].split()
    return fields[_CLOCK_FIELD - 2] if len(fields) > _CLOCK_FIELD - 2 else None


def new_token() -> str:
    """A claim token naming this process (see the module docstring) and a random part."""
    pid = os.getpid()
    return f"{_host()}:{pid}:{_start_ticks(pid) or '?'}:{uuid.uuid4().hex}"


def holder_is_dead(token: str) -> bool:
    """True only when ``token`` names a process of this host and pid namespace that no longer
    runs (its pid is gone, or now belongs to a process started at another time)."""
    parts = token.split(":")
    if len(parts) != 4 or parts[0] != _host() or not parts[1].isdigit() or parts[2] == "?":
        return False  # another host, an old-style token, or liveness unknown: wait for expiry
    if not os.path.isdir("/proc/self"):
        return False
    return _start_ticks(int(parts[1])) != parts[2]


def _now() -> dt.datetime:
    """UTC wall clock, naive (the warehouse stores UTC timestamps)."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)


@dataclass(frozen=True)
class Holder:
    """The lease row as read from the table."""

    owner: str
    stage: str
    token: str
    acquired_at: dt.datetime
    heartbeat_at: dt.datetime
    expires_at: dt.datetime

    @staticmethod
    def of(row: Row) -> Holder:
        return Holder(row["owner"], row["stage"], row["token"], row["acquired_at"], row["heartbeat_at"],
                      row["expires_at"])


class Lease:
    """A held writer lease (from :func:`writer_lease`): renews itself until released."""

    def __init__(self, spark: SparkSession, catalog: Catalog, owner: str, stage: str, token: str,
                 timing: LeaseTiming, scope: str) -> None:
        self.spark, self.catalog, self.owner, self.stage = spark, catalog, owner, stage
        self.token, self.timing, self.scope = token, timing, scope
        self._stop = threading.Event()
        self._lost: str | None = None
        self._thread = threading.Thread(target=self._beat, name=f"writer-lease-{owner}", daemon=True)

    def _table(self) -> DeltaTable:
        return delta_table(self.spark, self.catalog, WRITER_LEASE)

    def _mine(self) -> str:
        return f"scope = {sql_literal(self.scope)} AND token = {sql_literal(self.token)}"

    def renew(self) -> None:
        """Push ``expires_at`` ``ttl_s`` ahead; marks the lease lost when the row is no longer ours."""
        now = _now()
        expires = now + dt.timedelta(seconds=self.timing.ttl_s)
        try:
            self._table().update(self._mine(), {"heartbeat_at": sql_literal(now), "expires_at": sql_literal(expires)})
        except CONCURRENT_WRITE_ERRORS:
            logger.info("writer lease renewal of run %s conflicted; retrying at the next heartbeat", self.owner)
            return
        row = self._table().toDF().where(self._mine()).select("expires_at").first()
        if row is None or row["expires_at"] != expires:
            self._lost = "its row was taken over by another run after it expired"

    def _beat(self) -> None:
        while not self._stop.wait(self.timing.heartbeat_s):
            try:
                self.renew()
            except Exception:  # a heartbeat must never kill the run; check() reports a lost lease
                logger.exception("writer lease heartbeat of run %s failed", self.owner)
            if self._lost:
                return

    def check(self) -> None:
        """Raise :class:`LeaseLostError` when the lease no longer belongs to this run."""
        if self._lost:
            raise LeaseLostError(
                f"{WRITER_LEASE}: run {self.owner} lost the writer lease ({self._lost}); its writes are "
                f"incomplete: re-run it (MERGE writes make the re-run complete them)"
            )

    def start(self) -> None:
        self._thread.start()

    def release(self) -> None:
        """Stop renewing and delete this run's row (a taken-over row is left to its new holder)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.timing.heartbeat_s + 60)
        for _ in range(5):
            try:
                self._table().delete(self._mine())
                logger.info("run %s released the writer lease", self.owner)
                return
            except CONCURRENT_WRITE_ERRORS:
                time.sleep(0.2)
        logger.warning("run %s could not delete its writer lease row; it expires on its own", self.owner)


def current_holder(spark: SparkSession, catalog: Catalog, scope: str = WAREHOUSE_SCOPE) -> Holder | None:
    """The lease row of ``scope`` (expired or not), or None."""
    if not table_exists(spark, catalog, WRITER_LEASE):
        return None
    row = read_table(spark, catalog, WRITER_LEASE).where(F.col("scope") == scope).first()
    return Holder.of(row) if row is not None else None


def _claim(spark: SparkSession, catalog: Catalog, owner: str, stage: str, token: str, ttl_s: float,
           scope: str, dead_token: str | None = None) -> Holder | None:
    """One claim attempt; returns the holder afterwards (None: a conflict, try again).

    ``dead_token``: the token of a row found held by a dead process of this host, taken over if
    the row still carries it."""
    now = _now()
    row = spark.createDataFrame(
        [(scope, owner, stage, token, now, now, now + dt.timedelta(seconds=ttl_s))], WRITER_LEASE_SCHEMA
    )
    try:
        if not table_exists(spark, catalog, WRITER_LEASE):
            try:
                save(row.write.format("delta").mode("error"), catalog, WRITER_LEASE)
                return current_holder(spark, catalog, scope)
            except AnalysisException:  # created by a concurrent claimant: claim through the MERGE
                logger.debug("writer lease table created concurrently; claiming through the MERGE")
        (
            delta_table(spark, catalog, WRITER_LEASE).alias("t")
            .merge(row.alias("s"), "t.scope = s.scope")
            .whenMatchedUpdateAll(condition="t.expires_at < s.heartbeat_at OR t.token = s.token"
                                            f" OR t.token = {sql_literal(dead_token or token)}")
            .whenNotMatchedInsertAll()
            .execute()
        )
    except CONCURRENT_WRITE_ERRORS:
        logger.info("writer lease claim of run %s conflicted with a concurrent claim; retrying", owner)
        return None
    return current_holder(spark, catalog, scope)


@contextmanager
def writer_lease(spark: SparkSession, catalog: Catalog, owner: str, stage: str,
                 timing: LeaseTiming = DEFAULT_TIMING, scope: str = WAREHOUSE_SCOPE) -> Iterator[Lease]:
    """Hold the warehouse writer lease for the ``with`` block (see the module docstring).

    Args:
        spark: the session.
        catalog: the warehouse.
        owner: the run id (shown to runs that wait).
        stage: the stage that writes (shown to runs that wait).
        timing: expiry, heartbeat and waiting.
        scope: what is locked (the whole warehouse).

    Raises:
        WarehouseBusyError: another run held the lease for ``timing.wait_s`` seconds.
    """
    key = (catalog.key(WRITER_LEASE), scope)
    with _HELD_LOCK:
        held = _HELD.get(key)
    if held is not None and held.owner == owner:
        logger.debug("run %s already holds the writer lease (stage %s asks again)", owner, stage)
        yield held
        held.check()
        return
    token = new_token()
    deadline = time.monotonic() + timing.wait_s
    started = time.monotonic()
    announced = False
    dead: str | None = None
    dead_owner = dead_stage = ""
    while True:
        holder = _claim(spark, catalog, owner, stage, token, timing.ttl_s, scope, dead)
        if holder is not None and holder.token == token:
            if dead is not None:
                logger.warning("run %s took over the writer lease of run %s (stage %s): its process on this "
                               "host no longer runs", owner, dead_owner, dead_stage)
            break
        if holder is not None and holder_is_dead(holder.token):
            dead, dead_owner, dead_stage = holder.token, holder.owner, holder.stage
            continue  # take it over at once, conditioned on that very token
        dead = None
        if holder is not None and not announced:
            logger.warning("warehouse busy: run %s (stage %s) holds the writer lease since %s; run %s waits up to %.0f s",
                           holder.owner, holder.stage, holder.acquired_at, owner, timing.wait_s)
            announced = True
        if time.monotonic() >= deadline:
            busy = holder or current_holder(spark, catalog, scope)
            who = (f"run {busy.owner} (stage {busy.stage}) holds the writer lease since {busy.acquired_at} UTC "
                   f"(last heartbeat {busy.heartbeat_at}, expires {busy.expires_at} UTC)") if busy else \
                "concurrent runs keep claiming the writer lease"
            raise WarehouseBusyError(
                f"warehouse busy: {who}; run {owner} waited {time.monotonic() - started:.0f} s. Wait for that run "
                f"to finish and re-run, or, if it was killed, re-run after its lease expires (a killed run's "
                f"lease lapses {timing.ttl_s:.0f} s after its last heartbeat); table {WRITER_LEASE}"
            )
        time.sleep(min(timing.poll_s, max(0.0, deadline - time.monotonic())) or 0.05)
    lease = Lease(spark, catalog, owner, stage, token, timing, scope)
    logger.info("run %s (stage %s) holds the writer lease", owner, stage)
    lease.start()
    with _HELD_LOCK:
        _HELD[key] = lease
    try:
        yield lease
        lease.check()
    finally:
        with _HELD_LOCK:
            _HELD.pop(key, None)
        lease.release()
