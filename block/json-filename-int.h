// The "json:{...}" pseudo-protocol: a filename that carries a whole option
// tree, as QEMU accepts wherever a filename is taken (tool arguments,
// backing file names, -drive file=).
#pragma once

#include "util/keyval.h"

// Whether @filename starts with "json:".
bool bdrv_is_json_filename(const char *filename);

// Parses the JSON object after "json:" in @filename and adds its entries to
// @out flattened to dotted keys as QEMU's qdict_flatten does: nested objects
// become "file.driver", arrays "inject-error.0.event"; numbers are written in
// decimal and booleans as on/off.  Keys already in @out win (options given
// directly override the ones in the filename).  QEMU's JSON dialect also
// takes single-quoted strings, so they are accepted too.  On failure sets
// QEMU's messages ("Could not parse the JSON options: ...", "Invalid JSON
// object given") and returns false.
bool bdrv_parse_json_filename(const char *filename, QDict *out, Error **errp);
