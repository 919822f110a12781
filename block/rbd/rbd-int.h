// The `rbd` protocol driver's parts that need no cluster: the options of a
// node (QEMU 7.2's BlockdevOptionsRbd subset), the "rbd:" filename syntax
// and the json: name QEMU prints for an rbd node.  Private to block/rbd/
// and its unit tests.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "util/error.h"
#include "util/keyval.h"

struct RbdOptions {
    std::string pool;
    std::string ns;  // "namespace"; empty = the pool's default namespace
    std::string image;
    std::string snapshot;  // empty: the image's head
    std::string conf;      // empty: librados' default search path
    std::string user;      // empty: librados' default client ("admin")
    bool has_conf = false;
    bool has_user = false;
    bool has_snapshot = false;
    bool has_ns = false;  // the filename syntax always sets it ("")
    // Other "key=value" pairs of the filename, set on librados in order.
    std::vector<std::pair<std::string, std::string>> keypairs;
};

// The hidden option that carries the filename's other key=value pairs, as
// QEMU's "=keyvalue-pairs": a JSON array ["k1", "v1", "k2", "v2"].
inline constexpr const char *kRbdKeypairsKey = "=keyvalue-pairs";

// Parses "rbd:pool[/namespace]/image[@snapshot][:key=value...]" into
// options (pool, namespace, image, snapshot, conf, user, =keyvalue-pairs),
// with QEMU's "\" escapes and messages ("Pool name is required", "conf
// option X has no value").
void rbd_parse_filename(const char *filename, QDict *options, Error **errp);

// Takes the rbd keys out of @o into @out; false with QEMU's message when a
// required one is missing ("Parameter 'pool' is missing") or the
// key/value-pairs list is malformed.
bool rbd_take_options(QDict *o, RbdOptions *out, Error **errp);

// The json:{...} name QEMU 7.2 gives an rbd node opened with @opts (its
// strong options in QEMU's QDict member order).
std::string rbd_json_filename(const RbdOptions &opts);
// The same object without the "json:" prefix, for a parent's name.
std::string rbd_json_object(const RbdOptions &opts);

// Object size option of create: power of two, >= 4096, as QEMU.
bool rbd_check_object_size(uint64_t size, Error **errp);
