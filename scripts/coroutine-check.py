#!/usr/bin/python3
"""coroutine_fn checker: a function not marked coroutine_fn or
coroutine_mixed_fn must not call a coroutine_fn function directly.

    scripts/coroutine-check.py [-j N] [--root DIR] BUILD_DIR [FILE...]

Parses the project's own sources (not tests/, bench/) with libclang (Debian's
python3-clang-14) using BUILD_DIR/compile_commands.json, with clang's view of
coroutine/coroutine.h: coroutine_fn, coroutine_mixed_fn and no_coroutine_fn
are __attribute__((annotate(...))) there.  Prints one line per violation,
"file:line: caller calls coroutine_fn callee", and exits 1 if there is any.

What counts as a coroutine_fn callee: a function (or a function-pointer
member or typedef'd function type such as CoroutineEntry) whose declaration
carries the annotation.  Lambdas are their own functions: a lambda that
calls coroutine_fn code must itself be marked coroutine_fn (the lambdas that
tools hand to their coroutine runners) -- a plain lambda would be the same
bug as a plain function.  Why libclang rather than clang-tidy: the check is
a walk over call expressions with one attribute lookup; libclang gives that
in 150 lines with no plugin build, and clang-query cannot express "callee
annotated, caller not".
"""
import argparse
import json
import multiprocessing
import os
import shlex
import sys

import clang.cindex as ci

LIBCLANG = '/usr/lib/llvm-14/lib/libclang.so.1'
SKIP_DIRS = ('tests/', 'bench/')
FUNC_KINDS = {ci.CursorKind.FUNCTION_DECL, ci.CursorKind.CXX_METHOD,
              ci.CursorKind.CONSTRUCTOR, ci.CursorKind.DESTRUCTOR,
              ci.CursorKind.FUNCTION_TEMPLATE, ci.CursorKind.LAMBDA_EXPR,
              ci.CursorKind.CONVERSION_FUNCTION}


def annotations(cursor):
    """The annotate() strings on a declaration (inherited ones included)."""
    out = set()
    if cursor is None:
        return out
    for c in cursor.get_children():
        if c.kind == ci.CursorKind.ANNOTATE_ATTR:
            out.add(c.spelling)
    return out


def marks(decl):
    """Annotations of a callee: its own, or those of its function type when it
    is declared through a typedef (CoroutineEntry) or is a pointer member."""
    found = annotations(decl)
    if found or decl is None:
        return found
    # Redeclarations: look at the canonical one and the definition too.
    for other in (decl.canonical, decl.get_definition()):
        if other is not None and other != decl:
            found |= annotations(other)
    return found


def callee_of(call):
    ref = call.referenced
    if ref is None:
        return None
    return ref


def lambda_marks(cursor):
    """Markers written between a lambda's introducer and its body: libclang
    does not expose the attributes of a lambda's call operator, so read the
    spelled tokens ("[&]() coroutine_fn {")."""
    out = set()
    for t in cursor.get_tokens():
        if t.spelling == '{':
            break
        if t.spelling in ('coroutine_fn', 'coroutine_mixed_fn'):
            out.add(t.spelling)
    return out


def args_for(entry, build_dir):
    cmd = entry.get('arguments') or shlex.split(entry['command'])
    out = []
    skip = False
    for a in cmd[1:]:
        if skip:
            skip = False
            continue
        if a in ('-o', '-MF', '-MQ', '-MT'):
            skip = True
            continue
        if a in ('-c', '-MD', '-MMD', '-Werror', '-Winvalid-pch') or a.startswith('-fdiagnostics'):
            continue
        if a == entry['file'] or a.endswith(os.path.basename(entry['file'])) and not a.startswith('-'):
            continue
        out.append(a)
    # gcc-only warnings do not matter to the parse.
    return out + ['-Wno-unknown-warning-option', '-Wno-ignored-attributes']


def check_file(job):
    path, args, root = job
    ci.Config.loaded or ci.Config.set_library_file(LIBCLANG)
    index = ci.Index.create()
    tu = index.parse(path, args=args)
    errors = [d for d in tu.diagnostics if d.severity >= ci.Diagnostic.Error]
    if errors:
        return [f'{path}: parse error: {errors[0]}'], True
    found = []

    def in_project(c):
        f = c.location.file
        return f is not None and os.path.realpath(f.name).startswith(root)

    def visit_body(node, caller, caller_ok):
        for c in node.get_children():
            if c.kind == ci.CursorKind.LAMBDA_EXPR:
                ok = bool(lambda_marks(c) & {'coroutine_fn', 'coroutine_mixed_fn'})
                visit_body(c, f'lambda at line {c.location.line} in {caller}', ok)
                continue
            if c.kind == ci.CursorKind.CALL_EXPR and not caller_ok:
                callee = callee_of(c)
                if callee is not None and 'coroutine_fn' in marks(callee):
                    loc = c.location
                    rel = os.path.relpath(os.path.realpath(loc.file.name), root)
                    found.append(f'{rel}:{loc.line}: {caller} (not coroutine_fn) calls '
                                 f'coroutine_fn {callee.spelling}')
            visit_body(c, caller, caller_ok)

    def visit(node):
        for c in node.get_children():
            if not in_project(c):
                continue
            if c.kind in FUNC_KINDS and c.kind != ci.CursorKind.LAMBDA_EXPR:
                if c.is_definition():
                    ok = bool(annotations(c) & {'coroutine_fn', 'coroutine_mixed_fn'})
                    visit_body(c, c.spelling, ok)
                continue
            visit(c)

    visit(tu.cursor)
    return found, False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('build_dir')
    ap.add_argument('files', nargs='*', help='only these sources (default: all)')
    ap.add_argument('-j', type=int, default=os.cpu_count() or 1)
    ap.add_argument('--root', default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    a = ap.parse_args()
    root = os.path.realpath(a.root) + os.sep
    build = os.path.abspath(a.build_dir)
    with open(os.path.join(build, 'compile_commands.json')) as f:
        entries = json.load(f)
    want = {os.path.realpath(p) for p in a.files}
    jobs, seen = [], set()
    for e in entries:
        path = os.path.realpath(os.path.join(e['directory'], e['file']))
        rel = path[len(root):] if path.startswith(root) else None
        if rel is None or rel.startswith(SKIP_DIRS) or path in seen:
            continue
        if want and path not in want:
            continue
        seen.add(path)
        args = args_for(e, build)
        # Relative include paths are relative to the build directory.
        args = [('-I' + os.path.join(e['directory'], x[2:]) if x.startswith('-I') and
                 not x.startswith('-I/') else x) for x in args]
        jobs.append((path, args, root))
    with multiprocessing.Pool(max(1, a.j)) as pool:
        results = pool.map(check_file, jobs, chunksize=1)
    problems = sorted({line for found, _ in results for line in found})
    for line in problems:
        print(line)
    bad = len(problems)
    print(f'coroutine-check: {len(jobs)} files, {bad} problem(s)', file=sys.stderr)
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
