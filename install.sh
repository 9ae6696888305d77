#!/usr/bin/env bash
# Install gitmodel into the current Python so that `git model …` works in a new shell.
#   ./install.sh          install from this checkout
#   ./install.sh --dev    editable install with the test tools
set -euo pipefail
cd "$(dirname "$0")"

python=${PYTHON:-python3}
target=.
[[ ${1:-} == --dev ]] && target=-e.[test]

if ! command -v git >/dev/null; then
    echo "gitmodel: git is required; install it first (e.g. apt-get install git)" >&2
    exit 1
fi
"$python" -m pip install --quiet --disable-pip-version-check "$target"
if command -v pyenv >/dev/null; then pyenv rehash; fi

scripts=$("$python" -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
user_scripts=$("$python" -c 'import sysconfig; print(sysconfig.get_path("scripts", "posix_user"))')
if ! command -v git-model >/dev/null; then
    for dir in "$scripts" "$user_scripts"; do
        if [[ -x $dir/git-model ]]; then
            echo "gitmodel: installed in $dir, which is not on PATH" >&2
            echo "hint: add it: echo 'export PATH=\"$dir:\$PATH\"' >> ~/.bashrc" >&2
            exit 1
        fi
    done
    echo "gitmodel: install finished but git-model was not found" >&2
    exit 1
fi
echo "installed: $(git model --version)"
