// Public interface of util/: include this (or the individual headers).
#pragma once

#include "util/aio-backend.h"
#include "util/aio.h"
#include "util/bql.h"
#include "util/cutils.h"
#include "util/error.h"
#include "util/iov.h"
#include "util/keyval.h"
#include "util/thread-pool.h"
