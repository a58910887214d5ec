# A small TAP producer for the shell tests; sourced. Every check prints one
# "ok N - name" or "not ok N - name" line and the plan comes last, so prove
# counts every test (no status variable overwritten in a loop).
TAP_N=0
TAP_FAILED=0

tap_ok() { # name
	TAP_N=$((TAP_N + 1)); echo "ok $TAP_N - $1"
}
# The diagnostics go to stderr, as Test::More's do: prove shows them
# without -v, so a failure in a check's log says what was got.
tap_fail() { # name [diagnostic...]
	TAP_N=$((TAP_N + 1)); TAP_FAILED=$((TAP_FAILED + 1))
	echo "not ok $TAP_N - $1"; shift
	for d in "$@"; do printf '%s\n' "$d" | sed 's/^/# /' >&2; done
}
tap_skip() { # reason
	TAP_N=$((TAP_N + 1)); echo "ok $TAP_N # SKIP $1"
}
# is GOT WANT NAME
is() {
	if [ "$1" = "$2" ]; then tap_ok "$3"; else tap_fail "$3" "got:  $1" "want: $2"; fi
}
# like GOT SUBSTRING NAME
like() {
	case "$1" in *"$2"*) tap_ok "$3" ;; *) tap_fail "$3" "got:  $1" "want substring: $2" ;; esac
}
# tap_bail NAME [diagnostic...]: a failed check that the rest depends on
# (a server that does not start): prints the plan and ends the file.
tap_bail() {
	tap_fail "$@"
	tap_done
	exit 1
}
tap_done() {
	echo "1..$TAP_N"
	[ "$TAP_FAILED" -eq 0 ]
}
