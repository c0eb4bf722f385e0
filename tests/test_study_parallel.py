"""studies.run_parallel: independent jobs in worker processes, results in the order given."""

import math
import operator

import pytest

from latentlab.studies import parallel_workers, run_parallel


@pytest.mark.parametrize("workers", [1, 2])
def test_results_come_back_by_name_in_the_order_given(workers):
    finished = []
    jobs = {"b": (operator.add, (1, 2)), "a": (math.factorial, (5,)), "c": (operator.mul, (3, 4))}
    results = run_parallel(jobs, workers=workers, threads=1, done=lambda name, r: finished.append((name, r)))
    assert list(results.items()) == [("b", 3), ("a", 120), ("c", 12)]
    assert sorted(finished) == [("a", 120), ("b", 3), ("c", 12)]


def test_a_workers_error_is_raised_in_the_parent():
    with pytest.raises(ValueError, match="math domain"):
        run_parallel({"ok": (math.sqrt, (4.0,)), "bad": (math.sqrt, (-1.0,))}, workers=2, threads=1)


def test_one_worker_per_core_on_the_cpu_and_never_more_than_the_jobs():
    assert parallel_workers("cpu", threads=1, jobs=1) == 1
    assert 1 <= parallel_workers("cpu", threads=1, jobs=6) <= 6
    assert parallel_workers("cpu", threads=10_000, jobs=6) == 1
