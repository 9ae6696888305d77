#!/usr/bin/env bash
# The main job on a scratch repository: track, add, commit, delete, check out, verify bytes.
# Nothing outside the scratch directory is touched (the filter is installed --local).
set -euo pipefail
if ! command -v git-model >/dev/null && [[ -x $HOME/.local/bin/git-model ]]; then
    PATH=$HOME/.local/bin:$PATH  # where install.sh puts it beside an externally managed Python
fi

scratch=$(mktemp -d "${TMPDIR:-/tmp}/gitmodel-quickstart.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
cd "$scratch"
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

git init -q -b main demo && cd demo
git config user.name "Quickstart" && git config user.email "quickstart@example.com"
step git model install --local
step git model track "*.safetensors"

python3 - <<'PY'
import os
with open("model.safetensors", "wb") as f:      # 64 MiB of stand-in weights
    for _ in range(64):
        f.write(os.urandom(1 << 20))
PY
before=$(sha256sum model.safetensors | cut -d' ' -f1)

step git add .gitattributes model.safetensors
step git commit -qm "Add model v1"
step git show HEAD:model.safetensors              # Git holds a 130-byte pointer
step git model ls-files

step rm model.safetensors
step git checkout -- model.safetensors
after=$(sha256sum model.safetensors | cut -d' ' -f1)

step git switch -qc experiment
printf 'fine-tuned' >> model.safetensors
step git commit -qam "Fine-tune"
step git switch -q main
again=$(sha256sum model.safetensors | cut -d' ' -f1)
step git status --short

if [[ $before == "$after" && $before == "$again" && -z $(git status --porcelain) ]]; then
    echo; echo "OK: bytes verified (sha256 $before), worktree clean"
else
    echo; echo "FAILED: sha256 $before -> $after -> $again" >&2
    exit 1
fi
