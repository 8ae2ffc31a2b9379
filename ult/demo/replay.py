"""Replaying a generated history through the real scripts: scans in pipelines of
:data:`PIPELINE`, in time order (entry ids never go back); claims, staff decisions and voids
are scheduled as the replies come in."""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ult import ops
from ult.clock import MINUTE_MS
from ult.demo.businesses import REDEEM_VOUCHER, STAFF_DECISIONS, TILLS, VOID_SCAN, VOID_VOUCHER
from ult.demo.history import Customer, Item
from ult.rules import Rule

if TYPE_CHECKING:
    import numpy as np

    from ult.connection import Client
    from ult.scans import ScanResult

PIPELINE = 500


@dataclass
class DemoReport:
    """What was written: sponsors (with owner keys, for trying the dashboard) and counts.

    ``customers`` counts the simulated customers; a few never get a card (a bar guest whose
    every scan lacked the counter code). ``outcomes`` counts scan script replies by status.
    """

    sponsors: list[dict[str, Any]] = field(default_factory=list)
    customers: int = 0
    attempts: int = 0
    outcomes: Counter = field(default_factory=Counter)  # scan statuses: ok, cooldown, …
    actions: Counter = field(default_factory=Counter)  # rule, claim, approve, reject, void …
    entries: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "sponsors": self.sponsors,
            "customers": self.customers,
            "scan_attempts": self.attempts,
            "scan_outcomes": dict(sorted(self.outcomes.items())),
            "actions": dict(sorted(self.actions.items())),
            "entries": self.entries,
            "seconds": round(self.seconds, 2),
        }


class ClaimsHook:
    """How full cards turn into claims, staff decisions and voids during the replay.

    Uses ``ult.claims`` (``claim``, ``decide``, ``void_scan``). Subclass it and pass it as
    ``load(…, claims_hook=…)`` to change the behaviour; ``DemoConfig(claims=False)`` (``ult demo
    --no-claims``) makes no claims at all.
    """

    def __init__(self) -> None:
        from ult import claims

        self.api = claims
        self.tills: dict[str, list[str]] = {}  # sid → its staff keys (made at its first decision)

    def staff_key(self, runner: _Runner, decision: str) -> str:
        """The key a decision is made with: a till's staff key, or the owner's for a void."""
        if decision == "void":
            return runner.owner_key
        if runner.sid not in self.tills:
            from ult.staff import create_staff_key

            made = [runner.call(create_staff_key(runner.sid, runner.owner_key, n)) for n in TILLS]
            self.tills[runner.sid] = made
        return self.tills[runner.sid][int(runner.rng.integers(len(TILLS)))]

    def after_scan(self, runner: _Runner, item: Item, result: ScanResult | None) -> None:
        """A counted scan: maybe claim a full card a little later; rarely void the scan."""
        if result is None or result.duplicate:
            return
        customer = item.customer
        assert customer is not None  # a scan's
        if runner.rng.random() < VOID_SCAN:
            runner.schedule(
                item.at_ms + int(runner.rng.integers(2, 30)) * MINUTE_MS,
                "void_scan",
                ref=result.entry_id,
            )
        if result.reward_ready and runner.rng.random() < customer.segment.claim:
            runner.schedule(
                item.at_ms + int(runner.rng.integers(20_000, 180_000)), "claim", customer
            )

    def claim(self, runner: _Runner, item: Item) -> None:
        """The customer claims; staff decide on a requested claim a few minutes later."""
        from ult.errors import UltError

        assert item.customer is not None  # claims are scheduled with the scan's customer

        try:
            claim, created = runner.call(
                self.api.claim(runner.sid, item.customer.key, now_ms=item.at_ms)
            )
        except UltError as e:
            runner.report.actions[f"claim_{e.code}"] += 1
            return
        if not created:
            return
        runner.report.actions["claim"] += 1
        item.customer.points -= claim.points
        later = item.at_ms + int(runner.rng.integers(1, 10)) * MINUTE_MS
        if claim.status == "requested":
            decision = _pick(runner.rng, STAFF_DECISIONS)
            runner.schedule(later, "decide", item.customer, ref=claim.id, decision=decision)
        elif runner.rng.random() < VOID_VOUCHER:
            runner.schedule(later, "decide", item.customer, ref=claim.id, decision="void")
        else:
            self.maybe_redeem(runner, item, claim.id, later)

    def maybe_redeem(self, runner: _Runner, item: Item, claim_id: str, at_ms: int) -> None:
        """Most vouchers are shown at the counter a few minutes after they are given."""
        if runner.rng.random() < REDEEM_VOUCHER:
            later = at_ms + int(runner.rng.integers(1, 10)) * MINUTE_MS
            runner.schedule(later, "decide", item.customer, ref=claim_id, decision="redeem")

    def decide(self, runner: _Runner, item: Item) -> None:
        from ult.errors import UltError

        assert item.customer is not None  # decisions are scheduled with the claim's customer

        key = self.staff_key(runner, item.decision)
        op = self.api.decide(runner.sid, key, item.ref, item.decision, now_ms=item.at_ms)
        try:
            claim = runner.call(op)
        except UltError as e:
            runner.report.actions[f"{item.decision}_{e.code}"] += 1
            return
        runner.report.actions[item.decision] += 1
        if item.decision == "approve":
            self.maybe_redeem(runner, item, claim.id, item.at_ms)
        elif item.decision in ("reject", "void"):
            item.customer.points += claim.points

    def void_scan(self, runner: _Runner, item: Item) -> None:
        from ult.errors import UltError

        op = self.api.void_scan(runner.sid, runner.owner_key, item.ref, now_ms=item.at_ms)
        try:
            runner.call(op)
            runner.report.actions["void_scan"] += 1
        except UltError as e:
            runner.report.actions[f"void_scan_{e.code}"] += 1


def _pick(rng: np.random.Generator, choices: tuple[tuple[str, float], ...]) -> str:
    return choices[int(rng.choice(len(choices), p=[p for _, p in choices]))][0]


class _Runner:
    """Replays one sponsor's items in time order through pipelined script calls."""

    def __init__(
        self,
        r: Client,
        sid: str,
        owner_key: str,
        seed: tuple[int, int],
        report: DemoReport,
        hook: ClaimsHook | None,
        bar: Any,
    ) -> None:
        import numpy as np

        self.r = r
        self.sid = sid
        self.owner_key = owner_key
        self.report = report
        self.hook = hook
        self.bar = bar
        self.rng = np.random.default_rng([*seed, 1])
        self.pipe = r.pipeline(transaction=False)
        self.queued: list[tuple[Item, ops.Op[Any]]] = []
        self.heap: list[Item] = []
        self.seq = 10**9
        self.rule = Rule()

    def run(self, items: list[Item]) -> None:
        self.heap = list(items)
        heapq.heapify(self.heap)
        while self.heap:
            item = heapq.heappop(self.heap)
            if item.what in ("scan", "rule"):
                self.queue(item)
            else:
                self.flush()
                getattr(self.hook, item.what)(self, item)
            self.bar.update(1)
        self.flush()

    def schedule(self, at_ms: int, what: str, customer: Customer | None = None, **kw: Any) -> None:
        """Add an item to replay later (claims, decisions, voids made from replies)."""
        self.seq += 1
        heapq.heappush(self.heap, Item(at_ms, self.seq, what, customer, **kw))
        self.bar.total += 1

    def queue(self, item: Item) -> None:
        from ult import rules, scans

        op: ops.Op[Any]
        if item.what == "rule":
            assert item.rule is not None  # rule items carry their rule
            self.rule = item.rule
            op = rules.set_rule(self.sid, self.owner_key, item.rule, now_ms=item.at_ms)
        else:
            assert item.customer is not None  # scan items carry their customer
            op = scans.scan(
                self.sid,
                item.customer.key,
                item.nonce,
                item.tag,
                item.code_state,
                now_ms=item.at_ms,
            )
            item.customer.pending += 1
        ops.queue(self.pipe, op)
        self.queued.append((item, op))
        scanned = item.customer if item.what == "scan" else None
        if len(self.queued) >= PIPELINE or (scanned is not None and self._may_fill(scanned)):
            self.flush()

    def _may_fill(self, customer: Customer) -> bool:
        """Whether this scan may fill the card (then its reply is needed before going on)."""
        if self.hook is None or customer.segment.claim == 0:
            return False
        most = customer.points + customer.pending * self.rule.points_per_scan
        return most >= self.rule.points_needed

    def flush(self) -> None:
        if not self.queued:
            return
        replies = self.pipe.execute(raise_on_error=False)
        queued, self.queued = self.queued, []
        for (item, op), reply in zip(queued, replies, strict=True):
            if item.what == "scan":
                self._after_scan(item, op, reply)
            else:
                ops.parse_reply(op, reply)
                self.report.actions["rule"] += 1

    def _after_scan(self, item: Item, op: ops.Op[ScanResult], reply: Any) -> None:
        from ult.errors import UltError

        assert item.customer is not None  # a scan's
        self.report.attempts += 1
        item.customer.pending -= 1
        result = None
        try:
            result = ops.parse_reply(op, reply)
            status = "duplicate" if result.duplicate else "ok"
            item.customer.points = result.points
        except UltError as e:
            status = e.code
        self.report.outcomes[status] += 1
        if self.hook is not None:
            self.hook.after_scan(self, item, result)

    def call(self, op: ops.Op[Any]) -> Any:
        from ult import run

        return run(self.r, op)
