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

# TEXT without its leading and trailing blanks (LVM's tools pad their columns), no process.
tandem_trim() {
    _t=${1#"${1%%[![:space:]]*}"}
    printf '%s' "${_t%"${_t##*[![:space:]]}"}"
}

# sha256 of a file, or nothing when it does not exist.
tandem_sha256() { [ -f "$1" ] && sha256sum <"$1" | cut -d' ' -f1; }

# Atomically puts the content of SRC at DEST with MODE (octal) and OWNER:GROUP (either may be
# empty). Temp file in DEST's directory, fsync, then rename: a killed run leaves the old file or
# the new one, never a partial one. DEST itself is replaced: a symlink there becomes a regular
# file (modules that follow links pass the link's target as DEST).
# Never widens: without MODE/OWNER, the file keeps the mode and owner of the regular file DEST
# is, or leads to (stat -L: a link's own 0777 is never copied); a new file gets 0644 less the
# umask. The rename is `mv -T`: a directory that appears at DEST fails the step instead of
# receiving the file.
tandem_install() {
    _src=$1 _dest=$2 _mode=$3 _owner=$4
    _dir=$(dirname -- "$_dest")
    _tmp=$(mktemp "$_dir/.tandem.XXXXXXXX") || tandem_fail "cannot create a temporary file in $_dir"
    # Clean up the temp file if anything below fails or we are killed.
    trap 'rm -f -- "$_tmp"' EXIT
    cat -- "$_src" >"$_tmp" || tandem_fail "cannot write $_dest (disk full?)"
    _had=
    if [ -f "$_dest" ]; then _had=$(stat -L -c '%a %u:%g' -- "$_dest") || _had=; fi
    # Owner first: chown clears the setuid and setgid bits that MODE may set.
    if [ -n "$_owner" ]; then chown -- "$_owner" "$_tmp" || tandem_fail "chown $_owner $_dest failed"
    elif [ -n "$_had" ]; then chown -- "${_had#* }" "$_tmp" || tandem_fail "cannot keep the owner of $_dest"; fi
    if [ -n "$_mode" ]; then chmod -- "$_mode" "$_tmp" || tandem_fail "chmod $_mode $_dest failed"
    elif [ -n "$_had" ]; then chmod -- "${_had% *}" "$_tmp" || tandem_fail "cannot keep the mode of $_dest"
    else chmod -- "$(printf '%o' $((0644 & ~$(umask))))" "$_tmp" || tandem_fail "chmod $_dest failed"; fi
    sync -- "$_tmp" || tandem_fail "cannot flush $_dest to disk"
    mv -fT -- "$_tmp" "$_dest" || tandem_fail "cannot rename into $_dest"
    trap - EXIT
    sync -- "$_dir" 2>/dev/null || true
}

# Makes PATH a symlink to TARGET, atomically: the link is made in a fresh private directory
# (mktemp -d, beside PATH: no name another user can guess and plant) and renamed over PATH with
# `mv -T`, so PATH is never missing and a directory at PATH is never written into.
tandem_link() {
    _dir=$(dirname -- "$2")
    _tmpd=$(mktemp -d "$_dir/.tandem.XXXXXXXX") || tandem_fail "cannot create a temporary directory in $_dir"
    trap 'rm -rf -- "$_tmpd"' EXIT
    if ! { ln -s -- "$1" "$_tmpd/link" && mv -fT -- "$_tmpd/link" "$2"; }; then
        rm -rf -- "$_tmpd"; trap - EXIT; return 1
    fi
    rmdir -- "$_tmpd"
    trap - EXIT
}

# Fails unless PATH stays inside DIR: no component of PATH below DIR may be a symlink or `..`.
# For trees another user owns (a container's root file system, a user's home), where a planted
# link would lead root's writes out of them. Components that do not exist yet are fine: tandem
# makes them as real directories.
tandem_inside() {
    case $2 in "$1"/*) ;; *) tandem_fail "$2 is not inside $1" ;; esac
    _rest=${2#"$1"/} _at=$1
    while [ -n "$_rest" ]; do
        _c=${_rest%%/*}
        case $_rest in */*) _rest=${_rest#*/} ;; *) _rest= ;; esac
        case $_c in ''|.) continue ;; ..) tandem_fail "$2 goes out of $1 (..)" ;; esac
        _at=$_at/$_c
        if [ -L "$_at" ]; then
            tandem_fail "$_at is a symlink (to $(readlink -- "$_at")): tandem follows no link inside $1"
        fi
        [ -e "$_at" ] || return 0
    done
}

# Ensures PATH's mode (octal, no leading zeros), owner and group; empty means "leave as is".
# Numeric owner/group compare by id, names by name. A missing PATH is left alone (check mode
# on a file that would be created). Owner and group go first: chown clears setuid and setgid.
tandem_attrs() {
    [ -e "$1" ] || [ -L "$1" ] || return 0
    [ -n "$2$3$4" ] || return 0
    _p=$1 _wmode=$2 _wowner=$3 _wgroup=$4
    # One stat for all three (each process costs more than the comparisons); the fields are
    # a mode, names and ids: single words.
    # shellcheck disable=SC2046
    set -- $(stat -c '%a %U %u %G %g' -- "$_p")
    _mode=$1
    if [ -n "$_wowner" ]; then
        case $_wowner in *[!0-9]*) _have=$2 ;; *) _have=$3 ;; esac
        if [ "$_have" != "$_wowner" ]; then
            tandem_changed "owner of $_p to $_wowner"
            if ! tandem_checking; then
                chown -h -- "$_wowner" "$_p" || tandem_fail "chown $_wowner $_p failed (no such user?)"
                _mode=$(stat -c %a -- "$_p")
            fi
        fi
    fi
    if [ -n "$_wgroup" ]; then
        case $_wgroup in *[!0-9]*) _have=$4 ;; *) _have=$5 ;; esac
        if [ "$_have" != "$_wgroup" ]; then
            tandem_changed "group of $_p to $_wgroup"
            if ! tandem_checking; then
                chgrp -h -- "$_wgroup" "$_p" || tandem_fail "chgrp $_wgroup $_p failed (no such group?)"
                _mode=$(stat -c %a -- "$_p")
            fi
        fi
    fi
    if [ -n "$_wmode" ] && [ "$_mode" != "$_wmode" ]; then
        tandem_changed "mode of $_p to $_wmode"
        tandem_checking || chmod -- "$_wmode" "$_p" || tandem_fail "chmod $_wmode $_p failed"
    fi
}
