// QEMU's JSON and human output for the tools: JSON in QEMU's exact layout and
// member order, the human dump of format-specific info.  A small library
// (tool_output in util/meson.build) that qemu-img-lite and qemu-io-lite both
// link; it depends on json-glib only, not on the block layer.
#pragma once

#include <json-glib/json-glib.h>

#include <cstdint>
#include <string>

// QEMU's pretty JSON: 4-space indent, "key": value, object members in the
// iteration order of QEMU's QDict (hash buckets), so output matches
// qemu-img byte for byte whatever order the members were added in.
std::string img_json_pretty(JsonNode *node);

// qemu-img's human dump of a JSON object: "key name: value" lines, dashes in
// keys shown as spaces, nested objects and lists indented by 4 per level.
void img_dump_human(JsonObject *obj, int indentation);

// Adds an int / string / bool member (JsonBuilder shorthands).
void jb_int(JsonBuilder *b, const char *key, int64_t v);
void jb_str(JsonBuilder *b, const char *key, const char *v);
void jb_bool(JsonBuilder *b, const char *key, bool v);

// Owning JsonNode holder.
struct JsonNodeRef {
    JsonNode *node = nullptr;
    explicit JsonNodeRef(JsonNode *n = nullptr) : node(n) {}
    ~JsonNodeRef()
    {
        if (node) json_node_unref(node);
    }
    JsonNodeRef(const JsonNodeRef &) = delete;
    JsonNodeRef &operator=(const JsonNodeRef &) = delete;
};
