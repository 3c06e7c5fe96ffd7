from .tasks import TASKS, Degradation, build_degradation, parse_task

__all__ = ["TASKS", "Degradation", "build_degradation", "parse_task"]
