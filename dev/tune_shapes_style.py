"""Build shapes-style-cnn organisms on spec seeds outside every suite (default 900-905) with a recipe
override and print what the build check measures (clean accuracy, attack success, the worst flip by
anything else), the trigger texture and CPU seconds. The recipe in organisms/shapes_style.py was
chosen from these numbers (its docstring); no arm's score is involved.

    SAMECURVE_CACHE=/tmp/dev_cache .venv/bin/python dev/tune_shapes_style.py '{"steps": 250, "amplitude": 0.8}' 900,901,902
"""

from __future__ import annotations

import json
import sys
import time

import torch

from samecurve.organisms import shapes_style as S


def main() -> None:
    torch.set_num_threads(1)
    kw = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    seeds = [int(s) for s in sys.argv[2].split(",")] if len(sys.argv) > 2 else list(range(900, 906))
    for seed in seeds:
        spec = S.StyleSpec(seed, **kw)
        t = time.process_time()
        _, met = S.build(spec)
        print(seed, S.TEXTURE_NAMES[spec.trigger_texture], f"{time.process_time() - t:.1f} CPU-s",
              "clean", met["clean_accuracy"], "asr", met["attack_success"], "worst flip", S.worst_flip(met),
              "static", met["static"], "patch", met["random_patch"], flush=True)


if __name__ == "__main__":
    main()
