# Sourced by the install scripts: build a pinned tool once per version into
# a cache outside the work tree, and copy it into the script's bin folder.
# The caller sets root (the repository), bin (the destination) and cache
# (the cache root).

# modversion DIR MODULE: the version of MODULE that DIR's go.mod selects.
modversion() { (cd "$1" && go list -m -f '{{.Version}}' "$2"); }

# has NAME VERSION: whether the bin folder holds NAME at VERSION.
has() {
  [[ -f "$bin/$1" && -f "$bin/.$1.version" && "$(cat "$bin/.$1.version")" == "$2" ]]
}

# take NAME VERSION PATH HOW: copy an existing binary into the bin folder,
# saying where it came from.
take() {
  install -m 0755 "$3" "$bin/$1.tmp"
  mv "$bin/$1.tmp" "$bin/$1"
  echo "$2" >"$bin/.$1.version"
  echo "tools: $1 $2 from $3 ($4, nothing built) -> ${bin#"$root"/}/$1"
}

# provide NAME VERSION BUILD-FUNCTION: copy from the cache, building first if needed.
provide() {
  local name=$1 version=$2 build=$3
  local cached="$cache/$name-$version/$name"
  local shown="${bin#"$root"/}/$name" # bin/pulumi, bin/cluster/etcd
  if has "$name" "$version"; then
    echo "tools: $name $version already in $shown"
    return
  fi
  # -f, not -x: some outputs are data (kwok's stage configuration).
  if [[ ! -f "$cached" ]]; then
    echo "tools: building $name $version"
    local start=$SECONDS tmp
    tmp=$(mktemp -d "$cache/.build-$name.XXXXXX")
    "$build" "$version" "$tmp/$name"
    mkdir -p "$(dirname "$cached")"
    mv "$tmp/$name" "$cached"
    rm -rf "$tmp"
    echo "tools: built $name $version in $((SECONDS - start))s"
  fi
  install -m 0755 "$cached" "$bin/$name.tmp"
  mv "$bin/$name.tmp" "$bin/$name"
  echo "$version" >"$bin/.$name.version"
  echo "tools: $name $version -> $shown"
}

# go_install PACKAGE VERSION OUT: `go install PACKAGE@VERSION`, built as its
# own module (its go.mod and go.sum pin what goes in), the binary moved to OUT.
go_install() {
  local dir
  dir=$(mktemp -d)
  GOBIN="$dir" go install "$1@$2"
  mv "$dir/$(basename "$1")" "$3"
  rm -rf "$dir"
}
