"""The schedule is a value: planned without binding, printable, and what the executor runs."""
import numpy as np

import symconv
import symconv.tensor as T
from symconv import schedule


def _sgd_step():
    x = T.matrix("x")
    W = symconv.shared(np.ones((3, 2)), name="W")
    cost = T.sum(T.tanh(T.dot(x, W)) ** 2)
    g = T.grad(cost, W)
    return x, W, cost, g


def test_sgd_step_schedule_writes_the_update_in_place_last_and_prints_it():
    x, W, cost, g = _sgd_step()
    f = symconv.function([x], cost, updates=[(W, W - 0.1 * g)])
    sched = f.program.schedule
    assert isinstance(sched, schedule.Schedule)
    last = sched.steps[-1]
    assert last.in_place and last.args[last.out_arg] == "s0"
    assert sched.check_before == len(sched.steps) - 1
    text = str(sched)
    assert "in place into shared s0" in text and text.startswith("run(i0, s0):")
    assert "check every in-place update" in text
    # every generated line names its op
    body = [line for line in f.program.source.splitlines()[1:]
            if "= k" in line]
    assert len(body) == len(sched.steps)
    assert all(f"# {step.node.op.name}, created at " in line
               for line, step in zip(body, sched.steps))
    v = np.ones((4, 3))
    before = W.get_value()
    f(v)
    t = np.tanh(v @ before)
    np.testing.assert_allclose(W.get_value(), before - 0.1 * v.T @ (2 * t * (1 - t * t)),
                               rtol=1e-12)


def test_plan_is_pure_and_its_switches_work():
    x, W, cost, g = _sgd_step()
    new_w = W - 0.1 * g
    nodes = symconv.graph.toposort([cost, new_w], [x])
    accepts = {id(n): True for n in nodes}
    one = schedule.plan([x], [W], [cost], [new_w], accepts, [W])
    two = schedule.plan([x], [W], [cost], [new_w], accepts, [W])
    assert str(one) == str(two)
    assert one.inplace
    plain = schedule.plan([x], [W], [cost], [new_w], accepts, [W], inplace=False, reuse=False)
    assert not plain.inplace and not plain.reuse and plain.check_before is None
    never = schedule.plan([x], [W], [cost], [new_w], {}, [W])
    assert not never.inplace and not never.reuse     # no kernel accepts out=
    # every intermediate is freed exactly once, after its last reader
    freed = [name for step in one.steps for name in step.free]
    assert len(freed) == len(set(freed))


def test_debugprint_shows_the_schedule_with_buffer_annotations():
    x, W, cost, g = _sgd_step()
    f = symconv.function([x], cost, updates=[(W, W - 0.1 * g)])
    text = symconv.printing.debugprint(f, file="str")
    assert "Schedule:" in text and "in place into shared s0" in text
