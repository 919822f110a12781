// Subcommands that are declared but not written yet.  Each one moves to its
// own img-<name>.cc when implemented; until then it fails clearly rather
// than pretending to succeed.
#include <cstdio>

#include "qemu-img-lite/img.h"

static int not_implemented(const char *name)
{
    fprintf(stderr, "qemu-img-lite: '%s' is not implemented yet\n", name);
    return 1;
}

int img_measure(int, char **) { return not_implemented("measure"); }
