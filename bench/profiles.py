"""Where the processes' CPU goes: each aims process runs under py-spy (a sampling profiler, so
aims runs unchanged), and the bench prints the frames that held the interpreter longest.

Only samples that hold the GIL are taken (`--gil`): the Python work a process can do on one core,
which is what a CPU-bound worker runs out of. Time in the Temporal SDK's Rust core and in the
database driver's C code, with the GIL released, is not in them. Start-up (imports) is left out.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

PROFILER = "py-spy"
RATE = 200  # samples per second
# The packages of this repository: where "our code" is in a stack (not the CLI: it runs everything).
OWN = ("aims/", "api/", "workflows/", "activities/", "notifications/")
ENTRY = "aims/cli/"


def command(name: str, directory: Path) -> list[str]:
    """The prefix that runs a process under the profiler, writing `directory/<name>.txt`."""
    directory.mkdir(exist_ok=True)
    return [str(Path(sys.executable).with_name(PROFILER)), "record", "--gil", "--subprocesses", "-r", str(RATE), "-f", "raw",
            "-o", str(directory / f"{name}.txt"), "--"]  # fmt: skip


def _stacks(path: Path) -> list[tuple[list[str], int]]:
    """py-spy's raw format: `frame;frame;...;frame count` per line, outermost first."""
    stacks = []
    for line in path.read_text().splitlines():
        frames, _, count = line.rpartition(" ")
        stack = frames.split(";")
        if any("<frozen importlib" in frame for frame in stack):  # start-up, and imports done lazily
            continue
        stacks.append((stack, int(count)))
    return stacks


def _function(frame: str) -> str:
    """`name (path:line)` as `name (path)`: a function's lines counted together."""
    return frame.rsplit(":", 1)[0] + ")" if frame.endswith(")") else frame


def summary(path: Path, top: int = 12) -> list[str]:
    """The heaviest frames of one process: by their own time, and by the aims function that led there."""
    stacks = _stacks(path)
    total = sum(count for _, count in stacks)
    if not total:
        return [f"{path.stem}: no samples"]
    own: Counter[str] = Counter()
    inside: Counter[str] = Counter()  # the innermost aims frame of each stack: what it calls costs this
    for stack, count in stacks:
        own[stack[-1]] += count
        ours = [_function(frame) for frame in stack if frame.split(" (", 1)[-1].startswith(OWN)]
        ours = [frame for frame in ours if ENTRY not in frame]
        inside[ours[-1] if ours else "(not under aims code: the SDK, the HTTP server, the event loop)"] += count
    lines = [f"{path.stem}: {total / RATE:.1f} s holding the GIL; frames by own time:"]
    lines += [f"  {100 * count / total:5.1f}%  {frame}" for frame, count in own.most_common(top)]
    lines.append(f"{path.stem}: the innermost aims frame, with the library work it calls:")
    lines += [f"  {100 * count / total:5.1f}%  {frame}" for frame, count in inside.most_common(top)]
    return lines
