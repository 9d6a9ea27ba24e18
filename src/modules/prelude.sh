# tandem's step prelude: sent once per host (an Init frame), then every step script may use it.
# POSIX sh with coreutils only. Records for tandem are lines starting with "$TANDEM_MARK ";
# anything else a step prints is its output (kept for `register`).
# Set by the engine before this file: TANDEM_MARK, TANDEM_CHECK (1 in --check), TANDEM_DIFF (1 in --diff).

# A change was made (or, in check mode, would be made). Say what, briefly.
tandem_changed() { printf '%s changed %s\n' "$TANDEM_MARK" "$*"; }

# Stop this step as failed with a message for the user.
tandem_fail() { printf '%s\n' "$*" >&2; exit 1; }

# True in --check mode: scripts test this before anything that changes the node.
tandem_checking() { [ "${TANDEM_CHECK:-}" = 1 ]; }

# A value for `register`: tandem_fact KEY VALUE (VALUE is one line of text).
tandem_fact() { printf '%s fact %s %s\n' "$TANDEM_MARK" "$1" "$2"; }

# For --diff: tandem_diff LABEL OLD_FILE NEW_FILE (a missing file counts as empty).
# Sends both contents, length-prefixed, so binary content cannot break the framing.
tandem_diff() {
    [ "${TANDEM_DIFF:-}" = 1 ] || return 0
    _old=$(if [ -f "$2" ]; then wc -c <"$2"; else echo 0; fi)
    _new=$(if [ -f "$3" ]; then wc -c <"$3"; else echo 0; fi)
    printf '%s diff %s %s %s\n' "$TANDEM_MARK" "$_old" "$_new" "$1"
    [ ! -f "$2" ] || cat "$2"
    [ ! -f "$3" ] || cat "$3"
    printf '\n'
}

# sha256 of a file, or nothing when it does not exist.
tandem_sha256() { [ -f "$1" ] && sha256sum <"$1" | cut -d' ' -f1; }

# Atomically puts the content of SRC at DEST with MODE (octal) and OWNER:GROUP (either may be
# empty: keep/default). Temp file in DEST's directory, fsync, then rename: a killed run leaves
# the old file or the new one, never a partial one.
tandem_install() {
    _src=$1 _dest=$2 _mode=$3 _owner=$4
    _dir=$(dirname -- "$_dest")
    _tmp=$(mktemp "$_dir/.tandem.XXXXXXXX") || tandem_fail "cannot create a temporary file in $_dir"
    # Clean up the temp file if anything below fails or we are killed.
    trap 'rm -f -- "$_tmp"' EXIT
    cat -- "$_src" >"$_tmp" || tandem_fail "cannot write $_dest (disk full?)"
    if [ -n "$_mode" ]; then chmod "$_mode" "$_tmp" || tandem_fail "chmod $_mode $_dest failed"
    elif [ -e "$_dest" ]; then chmod "$(stat -c %a -- "$_dest")" "$_tmp"
    else chmod 0644 "$_tmp"; fi
    if [ -n "$_owner" ]; then chown "$_owner" "$_tmp" || tandem_fail "chown $_owner $_dest failed"
    elif [ -e "$_dest" ]; then chown "$(stat -c %u:%g -- "$_dest")" "$_tmp"; fi
    sync -- "$_tmp" || tandem_fail "cannot flush $_dest to disk"
    mv -f -- "$_tmp" "$_dest" || tandem_fail "cannot rename into $_dest"
    trap - EXIT
    sync -- "$_dir" 2>/dev/null || true
}

# Ensures PATH's mode (octal, no leading zeros), owner and group; empty means "leave as is".
# Numeric owner/group compare by id, names by name. A missing PATH is left alone (check mode
# on a file that would be created).
tandem_attrs() {
    [ -e "$1" ] || [ -L "$1" ] || return 0
    [ -n "$2$3$4" ] || return 0
    # One stat for all three: each process costs more than the comparisons.
    set -- "$1" "$2" "$3" "$4" $(stat -c '%a %U %u %G %g' -- "$1")
    if [ -n "$2" ] && [ "$5" != "$2" ]; then
        tandem_changed "mode of $1 to $2"
        tandem_checking || chmod "$2" -- "$1" || tandem_fail "chmod $2 $1 failed"
    fi
    if [ -n "$3" ]; then
        case $3 in *[!0-9]*) _have=$6 ;; *) _have=$7 ;; esac
        if [ "$_have" != "$3" ]; then
            tandem_changed "owner of $1 to $3"
            tandem_checking || chown -h -- "$3" "$1" || tandem_fail "chown $3 $1 failed (no such user?)"
        fi
    fi
    if [ -n "$4" ]; then
        case $4 in *[!0-9]*) _have=$8 ;; *) _have=$9 ;; esac
        if [ "$_have" != "$4" ]; then
            tandem_changed "group of $1 to $4"
            tandem_checking || chgrp -h -- "$4" "$1" || tandem_fail "chgrp $4 $1 failed (no such group?)"
        fi
    fi
}
