#!/usr/bin/env python3
"""Embeds a binary file in C++: bin2cc.py INPUT OUTPUT SYMBOL.

Defines `const unsigned char SYMBOL[]` and `const size_t SYMBOL_size`.
"""
import sys


def main():
    src, dst, sym = sys.argv[1:4]
    data = open(src, 'rb').read()
    lines = ['// Generated from %s by bin2cc.py: do not edit.' % src.split('/')[-1],
             '#include <cstddef>',
             'extern const unsigned char %s[];' % sym,
             'extern const size_t %s_size;' % sym,
             'alignas(16) const unsigned char %s[] = {' % sym]
    for i in range(0, len(data), 16):
        lines.append('    ' + ', '.join('0x%02x' % b for b in data[i:i + 16]) + ',')
    lines.append('};')
    lines.append('const size_t %s_size = %d;' % (sym, len(data)))
    open(dst, 'w').write('\n'.join(lines) + '\n')


if __name__ == '__main__':
    main()
