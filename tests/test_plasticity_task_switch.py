"""Task-switch detection shared by the episode recorder and the reset and shrink-and-perturb callbacks."""

from syre_rl.plasticity.task_switch import TaskSwitchDetector


def infos(*task_ids: int, switch: tuple[int, ...] = ()) -> list[dict]:
    return [{"task_id": t, "task_switch": i in switch} for i, t in enumerate(task_ids)]


def test_sub_envs_reaching_the_new_task_at_different_steps_count_once() -> None:
    detect = TaskSwitchDetector()
    assert not detect(infos(0, 0, 0, switch=(0, 1, 2)))  # start of task 0
    assert not detect(infos(0, 0, 0))
    assert detect(infos(1, 0, 0, switch=(0,)))  # sub-env 0 ends its episode first
    assert not detect(infos(1, 1, 0, switch=(1,)))  # the others follow: same switch
    assert not detect(infos(1, 1, 1, switch=(2,)))
    assert detect(infos(2, 1, 1, switch=(0,)))
    assert detect.task_id == 2


def test_first_step_after_a_resume_at_a_task_boundary_is_a_switch() -> None:
    assert TaskSwitchDetector()(infos(3, 3, switch=(0, 1)))
    assert not TaskSwitchDetector()(infos(3, 3))


def test_flags_without_task_ids() -> None:
    detect = TaskSwitchDetector()
    assert not detect([{"task_switch": True}])
    assert detect([{"task_switch": True}])


def test_a_higher_task_id_is_a_switch_without_a_flag() -> None:
    detect = TaskSwitchDetector()
    assert not detect(infos(0, 0))
    assert detect(infos(1, 1))
    assert not detect(infos(1, 1))


def test_a_detector_resumed_with_the_known_task_sees_only_later_tasks() -> None:
    detect = TaskSwitchDetector(task_id=2)
    assert not detect(infos(2, 2, switch=(0, 1)))  # the task already recorded before the resume
    assert detect(infos(3, 2))
    assert detect.task_id == 3
