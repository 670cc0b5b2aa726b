#!/bin/sh
# Lexicon PCT metrics through PCTScorer: another checkout (BEFORE) against this one, alternating
# in one run so that both see the same machine load; `uptime` before and after.
# Usage: sh bench/bench_lexicon_ab.sh BEFORE_DIR [ROUNDS]   (e.g. an archive of main)
set -e
BEFORE=${1:?give the folder of the checkout to compare against}
ROUNDS=${2:-3}
HERE=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-$HERE/.venv/bin/python}
[ -x "$PY" ] || PY=/work/main/.venv/bin/python
ONE=$(mktemp --suffix=.py)
cat > "$ONE" <<'PY'
import json, sys, time
from pathlib import Path

from congruence.evaluation import pct
from congruence.evaluation.baselines import reference_sentences

data = json.loads(Path(sys.argv[1], "tests/evaluation/contrast_responses.json").read_text())
kinds = ("reflective", "directive", "generic", "performative", "verbose")
resp = [c[t] for c in data["cases"] for t in kinds]
sents = list(reference_sentences())
n = 3000
R = [resp[i % len(resp)] for i in range(n)]
C = [sents[i % len(sents)] for i in range(n)]
s = pct.PCTScorer(similarity="lexical", word_vectors="none")
s.score_texts(R[:20], C[:20])  # compile the regexes
t, c = time.perf_counter(), time.process_time()
s.score_texts(R, C)
w, cp = time.perf_counter() - t, time.process_time() - c
print(f"{sys.argv[2]}: {n / w:,.0f} responses/s wall, {n / cp:,.0f} per CPU-second")
PY
uptime
i=0
while [ "$i" -lt "$ROUNDS" ]; do
  PYTHONPATH=$BEFORE "$PY" "$ONE" "$HERE" "before ($BEFORE)"
  PYTHONPATH=$HERE "$PY" "$ONE" "$HERE" "after ($HERE)"
  i=$((i + 1))
done
uptime
rm -f "$ONE"
