// qemu-img-lite output helpers: the -p progress line; the JSON and human
// printers it shares with qemu-io-lite live in util/json-output.h.
#pragma once

#include "util/json-output.h"

// Progress line "    (NN.NN/100%)\r", printed only when enabled and the
// value moved by at least @min_skip percent (qemu-progress.c semantics).
void img_progress_init(bool enabled, float min_skip);
// Adds @delta percent of the remaining work unit of size @max.
void img_progress_print(float delta, int max);
void img_progress_end(void);
