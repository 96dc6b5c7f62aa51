# shellcheck shell=bash
# Installing the bench scripts' tools; source this file.
#
#   need_tools COMMAND[:PACKAGE]...
#                                 installs with apt-get the Debian package of each COMMAND
#                                 that is not on PATH (PACKAGE, by default COMMAND itself,
#                                 e.g. gnuplot:gnuplot-nox), all in one apt-get run. apt-get
#                                 writes to stderr, so that a script's table on stdout stays
#                                 the table. Fails (ending a `set -e` script) when apt-get does.

need_tools() {  # command[:package]...
    local -a packages=()
    local tool
    for tool in "$@"; do
        command -v "${tool%%:*}" >/dev/null 2>&1 || packages+=("${tool#*:}")
    done
    [ ${#packages[@]} -gt 0 ] || return 0
    echo "bench: installing ${packages[*]}" >&2
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >&2
}
