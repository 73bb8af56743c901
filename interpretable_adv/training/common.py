"""What every training command shares: devices, seeds, ``args.json``, standard extensions."""

import datetime
import json
import os
import platform
import random
import subprocess
import sys

import chainer
import numpy as np
from chainer.training import extensions

from interpretable_adv import __version__
from interpretable_adv.iterators import serialize_random_state


def get_device(spec):
    """Chainer device from ``--device``: -1 or ``@numpy`` = CPU, N or ``@cupy:N`` = GPU N."""
    spec = str(spec)
    if spec.lstrip("-").isdigit():
        spec = "@numpy" if int(spec) < 0 else "@cupy:%d" % int(spec)
    device = chainer.get_device(spec)
    device.use()
    return device


def set_seed(seed, device=None):
    """Seed Python, NumPy (initialisers and CPU dropout) and CuPy when on a GPU."""
    random.seed(seed)
    np.random.seed(seed)
    if device is not None and device.xp is not np:
        device.xp.random.seed(seed)


def git_commit():
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=5)
        if out.returncode == 0:
            return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return "unknown"


def versions():
    found = {"python": platform.python_version(), "interpretable_adv": __version__,
             "chainer": chainer.__version__, "numpy": np.__version__}
    try:
        import cupy
        found["cupy"] = cupy.__version__
    except Exception:  # cupy absent or unusable: CPU only
        pass
    return found


def write_args_json(out, config, command):
    """``args.json``: resolved configuration, seed, git commit, versions, command line."""
    os.makedirs(out, exist_ok=True)
    payload = {"command": command, "config": config, "seed": config.get("seed"),
               "git_commit": git_commit(), "versions": versions(), "argv": sys.argv,
               "time": datetime.datetime.now().isoformat(timespec="seconds")}
    with open(os.path.join(out, "args.json"), "w") as f:
        json.dump(payload, f, indent=2)
    return payload


def add_standard_extensions(trainer, config, print_keys, log_trigger):
    """LogReport and PrintReport (one line per evaluation), ProgressBar, Adam's alpha, snapshots.

    A snapshot is written every ``snapshot_interval`` iterations and at the
    end of every epoch with autoload: rerunning the same command in the same
    ``--out`` resumes from the newest one.
    """
    trainer.extend(extensions.observe_value("alpha", lambda t: t.updater.get_optimizer("main").alpha),
                   trigger=log_trigger)
    trainer.extend(extensions.LogReport(trigger=log_trigger))
    trainer.extend(extensions.PrintReport(print_keys), trigger=log_trigger)
    if config.get("progress", True):
        trainer.extend(extensions.ProgressBar(update_interval=config["log_interval"]))
    snapshot = extensions.snapshot(filename="snapshot_iter_{.updater.iteration}", autoload=True, n_retains=2)
    trainer.extend(snapshot, trigger=(config["snapshot_interval"], "iteration"), name="snapshot_interval")
    trainer.extend(snapshot, trigger=(1, "epoch"), name="snapshot_epoch")


def serialize_run_state(serializer, optimizer):
    """What a trainer snapshot lacks for a bit-identical resume; call from ``Updater.serialize``.

    NumPy's global random state (Chainer's CPU dropout draws from it) and the
    optimizer's current learning rate (Adam's ``alpha``: Chainer stores the
    moments but not the hyperparameter, which the decay extensions change).
    """
    serialize_random_state(serializer["numpy_random"])
    hyperparam = optimizer.hyperparam
    hyperparam.alpha = serializer("optimizer_alpha", float(hyperparam.alpha))


def start_run(config, command):
    """Device, seed, prepared data and ``args.json`` for a training command; returns (device, data)."""
    from interpretable_adv.data import PreparedData

    device = get_device(config["device"])
    set_seed(config["seed"], device)
    data = PreparedData(config["data"])
    write_args_json(config["out"], config, command)
    return device, data


def run_trainer(trainer, config, extra_extensions=()):
    """Add ``(extension, trigger)`` extras, honour ``--resume``, run; returns the wall time in seconds."""
    import time

    for extension, trigger in extra_extensions:
        trainer.extend(extension, trigger=trigger)
    resume_from(trainer, config.get("resume"))
    start = time.time()
    trainer.run()
    return time.time() - start


def resume_from(trainer, path):
    """``--resume PATH``: load a specific trainer snapshot (autoload covers the usual case)."""
    if path:
        if not os.path.isfile(path):
            raise FileNotFoundError("--resume %s: no such snapshot" % path)
        chainer.serializers.load_npz(path, trainer)


def save_model_with_meta(path, model, meta):
    """``save_npz`` of ``model`` plus ``meta/<key>`` entries (vocabulary hash, config)."""
    serializer = chainer.serializers.DictionarySerializer()
    serializer.save(model)
    target = {k: chainer.backends.cuda.to_cpu(v) if v is not None else np.asarray(None)
              for k, v in serializer.target.items()}
    for key, value in meta.items():
        target["meta/" + key] = np.asarray(json.dumps(value) if not isinstance(value, str) else value)
    tmp = path + ".tmp.npz"
    np.savez(tmp, **target)
    os.replace(tmp, path)


def read_meta(path):
    """The ``meta/`` entries of a file written by :func:`save_model_with_meta`."""
    with np.load(path) as z:
        return {k[len("meta/"):]: str(z[k]) for k in z.files if k.startswith("meta/")}
