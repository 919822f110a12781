// The -p progress line (see img-output.h).
#include "qemu-img-lite/img-output.h"

#include <cstdio>

namespace {

struct ProgressState {
    bool enabled = false;
    float current = 0;
    float last_print = 0;
    float min_skip = 0;
} g_progress;

void progress_show(void)
{
    printf("    (%3.2f/100%%)\r", g_progress.current);
    fflush(stdout);
}

}  // namespace

void img_progress_init(bool enabled, float min_skip)
{
    g_progress = ProgressState{};
    g_progress.enabled = enabled;
    g_progress.min_skip = min_skip;
}

void img_progress_print(float delta, int max)
{
    float current = max == 0 ? delta : g_progress.current + delta / 100 * (float)max;
    if (current > 100) {
        current = 100;
    }
    g_progress.current = current;
    if (current > g_progress.last_print + g_progress.min_skip ||
        current < g_progress.last_print - g_progress.min_skip || current == 0 || current == 100) {
        g_progress.last_print = current;
        if (g_progress.enabled) {
            progress_show();
        }
    }
}

void img_progress_end(void)
{
    if (g_progress.enabled) {
        printf("\n");
    }
}
