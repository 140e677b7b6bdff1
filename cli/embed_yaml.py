#!/usr/bin/env python3
"""Turns a YAML model file into C: the built-in model of `nabla train`.

usage: embed_yaml.py INPUT.yaml OUTPUT.c

Writes cli_default_model_lines[] (one string literal per line, so no
literal comes near a compiler's length limit; NULL-terminated) and
cli_default_model_name ("<built-in NAME>"). Bytes outside printable ASCII
are written as three-digit octal escapes.
"""
import os
import sys


def literal(line: bytes) -> str:
    out = []
    for b in line:
        c = chr(b)
        if c in '\\"':
            out.append('\\' + c)
        elif c == '\n':
            out.append('\\n')
        elif 32 <= b < 127 and c != '?':  # '?' escaped: no trigraphs
            out.append(c)
        else:
            out.append('\\%03o' % b)
    return '"' + ''.join(out) + '"'


def main() -> int:
    if len(sys.argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    src, dst = sys.argv[1], sys.argv[2]
    with open(src, 'rb') as f:
        data = f.read()
    lines = data.splitlines(keepends=True)
    name = os.path.basename(src)
    body = ''.join('    %s,\n' % literal(line) for line in lines)
    text = (
        '/* Generated from %s by cli/embed_yaml.py at build time; do not edit. */\n'
        '#include <stddef.h>\n\n'
        'extern const char *const cli_default_model_lines[];\n'
        'extern const char cli_default_model_name[];\n\n'
        'const char cli_default_model_name[] = %s;\n\n'
        'const char *const cli_default_model_lines[] = {\n%s    NULL\n};\n'
        % (name, literal(('<built-in %s>' % name).encode()), body))
    with open(dst, 'w') as f:
        f.write(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
