"""Any mix of consumption styles on one RingBuffer delivers every record exactly once,
in order: a hypothesis state machine against a model of what the program produced
(including callbacks that raise and a small ring that fills up and wraps)."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from libbpfpy import Object, RingBuffer
from ringbuf_types import Args, Event

pytestmark = pytest.mark.root




class Boom(Exception):
    pass


def make_machine(path: str) -> type[RuleBasedStateMachine]:
    class Machine(RuleBasedStateMachine):
        @initialize()
        def setup(self) -> None:
            self.obj = Object.open(path)
            self.obj.load()
            self.raise_at: set[int] = set()
            self.delivered: list[int] = []
            self.expected: list[int] = []
            self.next_seq = 0
            self.rb = RingBuffer(self.obj.maps["small"], self.callback, event_type=Event)

        def callback(self, ev: Event) -> None:
            self.delivered.append(ev.seq)
            assert ev.value == ev.seq * 1000 + 7
            if ev.seq in self.raise_at:
                self.raise_at.discard(ev.seq)
                raise Boom(ev.seq)

        def teardown(self) -> None:
            rb = getattr(self, "rb", None)
            if rb is None:
                return
            try:
                self.raise_at.clear()
                while self.rb.consume():
                    pass
                assert self.delivered == self.expected
            finally:
                self.rb.close()
                self.obj.close()

        @rule(count=st.integers(0, 400), size=st.integers(24, 300), step=st.integers(0, 3),
              discard_every=st.sampled_from([0, 0, 2, 5]))
        def produce(self, count: int, size: int, step: int, discard_every: int) -> None:
            seq = self.next_seq
            a = Args(ring=0, count=count, size=size, size_step=step,
                     discard_every=discard_every, seq=seq)
            assert self.obj.programs["produce"].test_run(ctx=a).retval == 0
            reserved = a.produced + a.discarded
            assert reserved + a.failed == count
            self.expected += [seq + i for i in range(reserved)
                              if not (discard_every and (i + 1) % discard_every == 0)]
            self.next_seq += count

        @rule(offset=st.integers(0, 50))
        def arm_exception(self, offset: int) -> None:
            self.raise_at.add(self.next_seq - 1 - offset if self.next_seq > offset else 0)

        @rule()
        def consume(self) -> None:
            try:
                self.rb.consume()
            except Boom:
                pass

        @rule(timeout=st.sampled_from([0, 0.001]))
        def poll(self, timeout: float) -> None:
            try:
                self.rb.poll(timeout)
            except Boom:
                pass

        @rule()
        def read(self) -> None:
            ev = self.rb.read(0)
            if ev is not None:
                self.delivered.append(ev.seq)

        @rule(n=st.integers(1, 200))
        def iterate(self, n: int) -> None:
            if not self.rb.wait(0):
                return
            for ev in self.rb:
                self.delivered.append(ev.seq)
                n -= 1
                if n == 0 or not self.rb.wait(0):
                    break

        @rule(max_events=st.one_of(st.none(), st.integers(0, 300)))
        def read_batch(self, max_events: int | None) -> None:
            batch = self.rb.read_batch(max_events)
            if max_events is not None:
                assert len(batch) <= max_events
            assert (batch["value"] == batch["seq"].astype("u8") * 1000 + 7).all()
            self.delivered += batch["seq"].tolist()

        @invariant()
        def delivered_is_a_prefix_of_what_was_produced(self) -> None:
            if hasattr(self, "delivered"):
                assert self.delivered == self.expected[:len(self.delivered)]

    return Machine


def test_any_mix_of_consumers_delivers_everything_once_in_order(bpf_object_path):
    import numpy  # noqa: F401  (setup installs numpy: missing, the test fails)
    machine = make_machine(bpf_object_path("ringbuf"))
    machine.TestCase.settings = settings(
        max_examples=40, stateful_step_count=30, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    machine.TestCase().runTest()
