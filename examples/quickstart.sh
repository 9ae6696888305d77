#!/usr/bin/env bash
# The main job on scratch repositories: track a model, commit, fine-tune on a branch, see the
# tensor-level diff and lineage, push to a local bare remote (no configuration: the objects go
# to its own store) and clone it as a teammate; every step's bytes are verified.
# Nothing outside the scratch directory is touched (the filter is installed --local).
set -euo pipefail
if ! command -v git-model >/dev/null && [[ -x $HOME/.local/bin/git-model ]]; then
    PATH=$HOME/.local/bin:$PATH  # where install.sh puts it beside an externally managed Python
fi

scratch=$(mktemp -d "${TMPDIR:-/tmp}/gitmodel-quickstart.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
cd "$scratch"
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }
export GIT_AUTHOR_NAME=Quickstart GIT_AUTHOR_EMAIL=quickstart@example.com
export GIT_COMMITTER_NAME=Quickstart GIT_COMMITTER_EMAIL=quickstart@example.com

# stand-in weights: a real safetensors file, 4 float32 tensors of 16 MiB each
write_model() {
    python3 - "$@" <<'PY'
import json, struct, sys
import numpy as np
rng = np.random.default_rng(int(sys.argv[1]))
tensors = {f"layer{i}.weight": rng.standard_normal((2048, 2048), dtype=np.float32) for i in range(4)}
if len(sys.argv) > 2:  # a fine-tune: nudge one layer
    base = np.random.default_rng(7)
    tensors = {k: base.standard_normal((2048, 2048), dtype=np.float32) for k in tensors}
    tensors["layer2.weight"] += np.float32(0.01) * rng.standard_normal((2048, 2048), dtype=np.float32)
header, offset = {}, 0
for name, array in tensors.items():
    header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + array.nbytes]}
    offset += array.nbytes
blob = json.dumps(header).encode()
with open("model.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(blob)) + blob)
    for array in tensors.values():
        f.write(array.tobytes())
PY
}

git init -q -b main demo && cd demo
step git model install --local
step git model track "*.safetensors"
write_model 7
v1=$(sha256sum model.safetensors | cut -d' ' -f1)
step git add .gitattributes model.safetensors
step git commit -qm "Add model v1"
step git show HEAD:model.safetensors              # Git holds a 130-byte pointer
step git model ls-files

step rm model.safetensors
step git checkout -- model.safetensors           # back from the local store
[[ $(sha256sum model.safetensors | cut -d' ' -f1) == "$v1" ]]

step git switch -qc experiment
write_model 8 fine-tune
v2=$(sha256sum model.safetensors | cut -d' ' -f1)
step git add model.safetensors
step git model commit -m "Fine-tune layer2" --base model.safetensors --param lr=3e-5
step git model annotate model.safetensors --metric accuracy=0.912
step git model diff main experiment               # which tensors changed, and by how much
step git model lineage model.safetensors

step git init -q --bare -b main ../origin.git
step git remote add origin ../origin.git
step git push -q origin main experiment          # uploads the objects, then the refs

cd ..
step git clone -q -c filter.model.process="git-model filter-process" -c filter.model.required=true \
    origin.git teammate                           # a teammate's clone: bytes from origin's store
cd teammate
[[ $(sha256sum model.safetensors | cut -d' ' -f1) == "$v1" ]]
step git switch -q experiment
[[ $(sha256sum model.safetensors | cut -d' ' -f1) == "$v2" ]]
step git status --short

if [[ -z $(git status --porcelain) && -z $(git -C ../demo status --porcelain) ]]; then
    echo; echo "OK: every version's bytes verified (v1 ${v1:0:12}, v2 ${v2:0:12}), worktrees clean"
else
    echo; echo "FAILED: a worktree is not clean" >&2
    exit 1
fi
