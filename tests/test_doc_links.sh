#!/bin/sh
# test_doc_links.sh — the documentation points only at files in the
# repository: every relative markdown link in README.md and docs/*.md names
# a file or folder that exists (an #anchor after it aside), no text file
# of the source tree names a *.md file that is not in it, none names a
# path in ../shared beside the checkout, and no code or build file names a
# tracker issue by number.
#
# usage: test_doc_links.sh SOURCE_ROOT
set -u
src=$1
failed=0
checked=0

for doc in "$src/README.md" "$src"/docs/*.md; do
    dir=$(dirname "$doc")
    # every "](target)" of the file, one a line
    for target in $(grep -o '](\([^)]*\))' "$doc" | sed 's/^](\(.*\))$/\1/'); do
        case $target in
        http://* | https://* | mailto:* | '#'*) continue ;;
        esac
        path=${target%%#*}
        checked=$((checked + 1))
        if [ ! -e "$dir/$path" ]; then
            failed=$((failed + 1))
            echo "not ok - ${doc#"$src"/} links to $target, which is not in the repository"
        fi
    done
done

# *.md names anywhere in the sources and docs: each must be a file here.
known=$(cd "$src" && find . -name '*.md' -not -path './build*' -not -path './.git/*' |
        sed 's|.*/||' | sort -u)
for dir in README.md docs include graph ops autodiff layers train io cli examples bench scripts tests; do
    [ -e "$src/$dir" ] || continue
    for name in $(grep -rhoI '[A-Za-z0-9_-][A-Za-z0-9_.-]*\.md\b' "$src/$dir" | sed 's|.*/||' | sort -u); do
        checked=$((checked + 1))
        if ! printf '%s\n' "$known" | grep -qx -- "$name"; then
            failed=$((failed + 1))
            echo "not ok - $dir names $name, which is not in the repository:"
            grep -rnI -- "$name" "$src/$dir" | head -3 | sed "s|^$src/|    |"
        fi
    done
done

# Nothing points outside the repository by a relative path (the folder
# beside a checkout is not shipped with it).
for dir in README.md docs include graph ops autodiff layers train io cli examples bench scripts tests meson.build; do
    [ -e "$src/$dir" ] || continue
    checked=$((checked + 1))
    if grep -rnI -- '\.\./shared' "$src/$dir" | grep -v '^[^:]*test_doc_links\.sh:' >/dev/null; then
        failed=$((failed + 1))
        echo "not ok - $dir names a path outside the repository:"
        grep -rnI -- '\.\./shared' "$src/$dir" | grep -v 'test_doc_links\.sh:' | head -3 | sed "s|^$src/|    |"
    fi
done

# Code and build files state facts without a tracker's issue numbers
# (the docs may tell the history).
checked=$((checked + 1))
if (cd "$src" && grep -rnIiE 'issue[ -]?#?[0-9]' --include='*.[ch]' --include='*.py' \
        --include='*.sh' --include='meson.build' --include='meson_options.txt' \
        graph ops autodiff layers train io cli examples bench scripts tests include meson.build \
        2>/dev/null | grep -v '^tests/test_doc_links\.sh:') > "${TMPDIR:-/tmp}/nabla-issue-refs.$$"; then
    failed=$((failed + 1))
    echo "not ok - code or build files name an issue by number:"
    head -3 "${TMPDIR:-/tmp}/nabla-issue-refs.$$" | sed 's/^/    /'
fi
rm -f "${TMPDIR:-/tmp}/nabla-issue-refs.$$"

echo "doc links: $checked checked, $failed dangling"
[ "$failed" = 0 ] && [ "$checked" -gt 0 ]
