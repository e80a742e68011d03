"""Long tasks say how long is left, from their pace so far."""
from core.progress import Progress, TimeLeft


def test_time_left_from_the_pace_so_far():
    now, shown = [100.0], []
    left = TimeLeft(shown.append, clock=lambda: now[0])
    left(Progress(0, 121, "learning"))  # the start: nothing to go by
    now[0] = 105.0
    left(Progress(1, 121, "epoch 1"))  # five seconds in: too early to say
    now[0] = 130.0
    left(Progress(10, 121, "epoch 10"))  # 3 s a step, 111 steps left: 333 s
    now[0] = 400.0
    left(Progress(110, 121, "epoch 110"))  # 300 s for 110 steps, 11 left: 30 s
    left(Progress(121, 121, "done"))
    left(Progress(3, None, "reading"))  # a task that does not count its steps
    assert [p.message for p in shown] == ["learning", "epoch 1", "epoch 10 · about 6 min left",
                                          "epoch 110 · less than a minute left", "done", "reading"]
    assert [(p.done, p.total) for p in shown] == [(0, 121), (1, 121), (10, 121), (110, 121), (121, 121), (3, None)]
