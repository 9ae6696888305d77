#!/usr/bin/env bash
# Install gitmodel so that `git model …` works in a new shell.
#   ./install.sh          install from this checkout into the current Python
#   ./install.sh --dev    editable install with the test tools
# Where that Python is externally managed (PEP 668, e.g. Debian's), gitmodel goes into
# its own virtual environment under ~/.local/share/gitmodel and `git-model` into ~/.local/bin.
# The manual pages (`git model --help`, `man git-model-push`) go to PREFIX/share/man for the
# PREFIX/bin that holds git-model: man searches there for every PREFIX/bin on PATH.
set -euo pipefail
cd "$(dirname "$0")"

python=${PYTHON:-python3}
target=.
[[ ${1:-} == --dev ]] && target=-e.[test]

if ! command -v git >/dev/null; then
    echo "gitmodel: git is required; install it first (e.g. apt-get install git)" >&2
    exit 1
fi
pip_install() {
    "$1" -m pip install --quiet --disable-pip-version-check "$target"
    # pip compiles an installed package's bytecode; an editable one is compiled here, or
    # (with PYTHONDONTWRITEBYTECODE set) every `git-model` start would compile it again
    [[ $target == . ]] || "$1" -m compileall -q gitmodel >/dev/null
}

if ! pip_install "$python" 2>/tmp/gitmodel-pip.$$; then
    if ! grep -q externally-managed /tmp/gitmodel-pip.$$; then
        cat /tmp/gitmodel-pip.$$ >&2
        rm -f /tmp/gitmodel-pip.$$
        exit 1
    fi
    venv=${XDG_DATA_HOME:-$HOME/.local/share}/gitmodel/venv
    echo "gitmodel: $python is externally managed; installing into $venv" >&2
    "$python" -m venv "$venv"
    pip_install "$venv/bin/python"
    mkdir -p "$HOME/.local/bin"
    ln -sf "$venv/bin/git-model" "$HOME/.local/bin/git-model"
fi
rm -f /tmp/gitmodel-pip.$$
if command -v pyenv >/dev/null; then pyenv rehash; fi

install_manual() {  # $1: the git-model that was installed, as PATH (or ~/.local/bin) has it
    "$1" manual --prefix "$(dirname "$(dirname "$1")")" \
        || echo "warning: could not install the manual pages; git model -h still works" >&2
}

if ! command -v git-model >/dev/null && [[ -x $HOME/.local/bin/git-model ]]; then
    # Debian and Ubuntu put ~/.local/bin on PATH in new login shells once it exists
    install_manual "$HOME/.local/bin/git-model"
    echo "installed: $("$HOME/.local/bin/git-model" --version) in ~/.local/bin"
    echo "note: open a new shell, or run: export PATH=\"\$HOME/.local/bin:\$PATH\""
    exit 0
fi
if ! command -v git-model >/dev/null; then
    for dir in "$("$python" -c 'import sysconfig; print(sysconfig.get_path("scripts"))')" \
        "$("$python" -c 'import sysconfig; print(sysconfig.get_path("scripts", "posix_user"))')"; do
        if [[ -x $dir/git-model ]]; then
            echo "gitmodel: installed in $dir, which is not on PATH" >&2
            echo "hint: add it: echo 'export PATH=\"$dir:\$PATH\"' >> ~/.bashrc" >&2
            exit 1
        fi
    done
    echo "gitmodel: install finished but git-model was not found" >&2
    exit 1
fi
install_manual "$(command -v git-model)"
echo "installed: $(git model --version)"
