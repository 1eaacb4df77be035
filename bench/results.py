# SPDX-License-Identifier: LGPL-2.1-or-later
"""bench/RESULTS.md has one section ("# title") per benchmark script; each script replaces its own."""


def write_section(path, title, text):
    """Replaces the section starting with the line title in path (or appends it); the others stay."""
    try:
        old = open(path).read()
    except FileNotFoundError:
        old = ''
    parts, cur = [], None
    for line in old.splitlines(keepends=True):
        if line.startswith('# '):
            cur = [line]
            parts.append(cur)
        elif cur is not None:
            cur.append(line)
    sections = [''.join(x) for x in parts]
    new = text.strip('\n') + '\n\n'
    for i, sec in enumerate(sections):
        if sec.splitlines()[0].strip() == title:
            sections[i] = new
            break
    else:
        sections.append(new)
    with open(path, 'w') as f:
        f.write(''.join(x.rstrip('\n') + '\n\n' for x in sections).rstrip('\n') + '\n')
