// cmocka.h needs these includes first and has no extern "C" guard.
#pragma once
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <setjmp.h>
extern "C" {
#include <cmocka.h>
}
