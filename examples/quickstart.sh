#!/usr/bin/env bash
# The main job on scratch repositories: track a model, commit, fine-tune on a branch, see the
# tensor-level diff and lineage, promote, canary and roll back in the registry, push to a local
# bare remote (no configuration: the objects go to its own store) and clone it as a teammate;
# every step's bytes are verified.
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

# the registry: name the model, promote v1, canary v2 at 10%, cut over, then roll back
step git switch -q main
step git merge -q --ff-only experiment
step git model register demo model.safetensors -d "demo classifier"
step git commit -qm "Register the demo model"
step git model versions demo
step git model promote demo@v1 production -m "first release"
step git model promote demo@v2 production --weight 10 -m "canary"
step git model promote demo@v2 production -m "canary looks good"
step git model rollback demo production --to v1 -m "latency regression"
step git model stages demo
step git model history demo
serving=$(git model resolve demo@production --json |
    python3 -c 'import json, sys; print([v["version"] for v in json.load(sys.stdin)["versions"]])')
[[ $serving == "[1]" ]]                           # production serves v1 again

step git init -q --bare -b main ../origin.git
step git remote add origin ../origin.git
step git push -q origin main experiment          # uploads the objects, then the refs

cd ..
step git clone -q -c filter.model.process="git-model filter-process" -c filter.model.required=true \
    origin.git teammate                           # a teammate's clone: bytes from origin's store
cd teammate
[[ $(sha256sum model.safetensors | cut -d' ' -f1) == "$v2" ]]   # main holds the fine-tune
step git checkout -q HEAD~2 -- model.safetensors   # and history the first version
[[ $(sha256sum model.safetensors | cut -d' ' -f1) == "$v1" ]]
step git checkout -q HEAD -- model.safetensors
step git model stages demo                         # the registry came with the clone
step git model checkout demo@production --to ../served   # what production serves: v1
[[ $(sha256sum ../served/model.safetensors | cut -d' ' -f1) == "$v1" ]]
step git status --short

if [[ -z $(git status --porcelain) && -z $(git -C ../demo status --porcelain) ]]; then
    echo; echo "OK: every version's bytes verified (v1 ${v1:0:12}, v2 ${v2:0:12}), worktrees clean"
else
    echo; echo "FAILED: a worktree is not clean" >&2
    exit 1
fi
