# Sourced by .ci/run, .ci/release, .ci/consumer and .ci/apidiff: the
# repository's Go modules, its releases, and a local module proxy that
# serves them as a release does. Run from the repository's root.

# The modules a release tags, dependencies first: go.sum files are written
# in this order (RELEASING.md). A level's modules require only modules of
# the levels before it.
MODULE_LEVELS=(
	"."
	"redis bolt prometheus"
	"redis/clientbench examples bench soak"
	"e2e"
)
MODULE_PREFIX=github.com/fanout-go/fanout

# The modules a user imports: their API is kept compatible (.ci/apidiff).
USER_MODULES=". redis bolt prometheus"

all_modules() {
	local level
	for level in "${MODULE_LEVELS[@]}"; do
		echo $level
	done | tr ' ' '\n'
}

# module_path DIR: the module path of the module in DIR.
module_path() {
	if [ "$1" = . ]; then
		echo "$MODULE_PREFIX"
	else
		echo "$MODULE_PREFIX/$1"
	fi
}

# changelog_release: the version of CHANGELOG.md's latest release heading
# ("## v0.1.0 — 2026-12-07").
changelog_release() {
	sed -n 's/^## \(v[0-9][0-9]*\.[0-9][0-9]*\.[0-9][0-9]*\) .*/\1/p' CHANGELOG.md | head -1
}

# recorded_commit VERSION: the release commit .ci/releases records for
# VERSION ("v0.1.0 <commit>"), or nothing when it records none (the
# release is being prepared). Fails when this clone lacks that commit.
recorded_commit() {
	local commit
	commit="$(awk -v v="$1" '$1 == v { print $2 }' .ci/releases 2>/dev/null || true)"
	[ -n "$commit" ] || return 0
	if ! git cat-file -e "$commit^{commit}" 2>/dev/null; then
		if [ "$(git rev-parse --is-shallow-repository)" = true ]; then
			echo "release $1 is commit $commit (.ci/releases), which this shallow clone lacks: run git fetch --unshallow" >&2
		else
			echo "release $1 is commit $commit (.ci/releases), which this clone lacks" >&2
		fi
		return 1
	fi
	echo "$commit"
}

# worktree_tree: a tree object of the work tree as it is (tracked and
# untracked files that .gitignore does not exclude), made without touching
# the index or any ref.
worktree_tree() {
	local index
	index="$(mktemp)"
	GIT_INDEX_FILE="$index" git read-tree HEAD &&
		GIT_INDEX_FILE="$index" git add -A . &&
		GIT_INDEX_FILE="$index" git write-tree
	local rc=$?
	rm -f "$index"
	return $rc
}

# private_modcache NAME: a module cache of this clone's own for NAME
# (stable, so that the build cache keeps the other modules' packages), with
# no module of ours in it: their content changes from run to run.
private_modcache() {
	local dir
	dir="${XDG_CACHE_HOME:-$HOME/.cache}/fanout-ci/$(pwd | cksum | cut -d' ' -f1)/$1"
	rm -rf "$dir/${MODULE_PREFIX%/*}" "$dir/cache/download/${MODULE_PREFIX%/*}"
	mkdir -p "$dir"
	echo "$dir"
}

# build_modproxy DIR: builds .ci/release-tools's modproxy into DIR/modproxy.
build_modproxy() {
	(cd .ci/release-tools && GOWORK=off go build -o "$1/modproxy" .)
}

# serve_releases BIN PROXY: writes every module of every release in
# .ci/releases into the module proxy directory PROXY, from its release
# commit; and the CHANGELOG's latest release, when .ci/releases does not
# record it yet, from the work tree as it is (the release being cut).
serve_releases() {
	local bin=$1 proxy=$2 v commit latest
	latest="$(changelog_release)"
	if [ -f .ci/releases ]; then
		while read -r v commit; do
			case "$v" in v*) ;; *) continue ;; esac
			commit="$(recorded_commit "$v")" || return 1
			"$bin" -repo . -rev "$commit" -version "$v" -out "$proxy" \
				-time "$(git show -s --format=%cI "$commit")"
		done <.ci/releases
	fi
	if [ -z "$(recorded_commit "$latest")" ]; then
		"$bin" -repo . -rev "$(worktree_tree)" -version "$latest" -out "$proxy"
	fi
}

# with_proxy PROXY MODCACHE COMMAND...: runs COMMAND with the go command
# resolving this repository's modules from the proxy directory PROXY alone
# (unpublished, their checksums are in no public database) and the others
# as usual, the module cache's downloads first. MODCACHE is a module cache
# of its own: the shared one must never hold a version of ours whose
# content is not the released one.
with_proxy() {
	local proxy=$1 modcache=$2 shared
	shift 2
	shared="$(go env GOMODCACHE)"
	# GODEBUG=goindex=0: the go command keeps an index of each module
	# cache directory's files in the build cache, keyed by its path and
	# version, as if a version's content never changed; MODCACHE holds
	# the work tree's content under the version being cut, different in
	# every run, so a stale index hid the files a change added.
	GODEBUG=goindex=0 GOWORK=off GOFLAGS="-mod=mod -modcacherw" GONOSUMDB="$MODULE_PREFIX" \
		GOPROXY="file://$proxy,file://$shared/cache/download,$(go env GOPROXY)" \
		GOMODCACHE="$modcache" "$@"
}
