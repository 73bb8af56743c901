#!/usr/bin/env bash
# Build .devkit/ (git-ignored through .git/info/exclude) for a GPU machine whose Python already has
# NumPy 2 and CuPy 14 but no Chainer and no network (the lent H200 image): Chainer 7.8.1 copied
# from .venv, the NumPy-2 shim (experiments/device/sitecustomize.py), an `iadv` wrapper, and a
# subset of the prepared IMDB small enough to travel (train, dev, vocabulary in full; 4,000
# unlabeled and 2,000 test reviews). Then, on that machine, from the repository root:
#
#   export PYTHONPATH=$PWD/.devkit/site:$PWD PYTHON=python3 IADV=$PWD/.devkit/bin/iadv \
#          SKIP_INSTALL=1 DATA=.devkit/data/imdb
#   bash experiments/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${DATA:-runs/data/imdb}
SITE=$(.venv/bin/python -c "import chainer, os; print(os.path.dirname(os.path.dirname(chainer.__file__)))")
mkdir -p .git/info && { grep -qx "/.devkit/" .git/info/exclude 2>/dev/null || echo "/.devkit/" >> .git/info/exclude; }
rm -rf .devkit && mkdir -p .devkit/site .devkit/bin .devkit/data/imdb
cp -r "$SITE/chainer" "$SITE/chainerx" .devkit/site/
find .devkit/site -name __pycache__ -prune -exec rm -rf {} +
cp experiments/device/sitecustomize.py .devkit/site/
printf '#!/bin/sh\nexec python3 -m interpretable_adv.cli "$@"\n' > .devkit/bin/iadv && chmod +x .devkit/bin/iadv
cp "$DATA"/{train.npz,dev.npz,vocab.json,stats.json,stats.md} .devkit/data/imdb/
.venv/bin/python - "$DATA" <<'PY'
import sys
import numpy as np
from interpretable_adv.data import ReviewSplit
src = sys.argv[1]
for name, n in (("unlabeled", 4000), ("test", 2000)):
    s = ReviewSplit.load("%s/%s.npz" % (src, name))
    idx = np.sort(np.random.default_rng(0).choice(len(s), min(n, len(s)), replace=False))
    reviews = [s.review(i) for i in idx]
    offsets = np.concatenate([[0], np.cumsum([len(r) for r in reviews])]).astype(s.offsets.dtype)
    ReviewSplit(np.concatenate(reviews).astype(s.tokens.dtype), offsets, s.labels[idx],
                None if s.file_ids is None else s.file_ids[idx],
                None if s.ratings is None else s.ratings[idx]).save(".devkit/data/imdb/%s.npz" % name)
PY
du -sh .devkit
