// JSON/human printers shared by qemu-img-lite and qemu-io-lite (see json-output.h).
#include "util/json-output.h"

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <algorithm>
#include <vector>

namespace {

// QEMU's QDict keeps members in 512 hash buckets (newest first within a
// bucket) and its JSON writer walks the buckets in order; we sort by the
// same bucket index so our member order is QEMU's.
unsigned qdict_bucket(const char *name)
{
    uint32_t value = 0x238F13AFu * (uint32_t)strlen(name);
    for (unsigned i = 0; name[i]; i++) {
        value += (uint32_t)(unsigned char)name[i] << (i * 5 % 24);
    }
    return (1103515243u * value + 12345u) % 512;
}

std::vector<const char *> ordered_members(JsonObject *obj)
{
    std::vector<const char *> keys;
    GList *members = json_object_get_members(obj);
    for (GList *l = members; l; l = l->next) {
        keys.push_back(static_cast<const char *>(l->data));
    }
    g_list_free(members);
    std::reverse(keys.begin(), keys.end());  // newest first within a bucket
    std::stable_sort(keys.begin(), keys.end(), [](const char *a, const char *b) {
        return qdict_bucket(a) < qdict_bucket(b);
    });
    return keys;
}

void append_quoted(std::string *out, const char *s)
{
    out->push_back('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': *out += "\\\""; break;
        case '\\': *out += "\\\\"; break;
        case '\b': *out += "\\b"; break;
        case '\f': *out += "\\f"; break;
        case '\n': *out += "\\n"; break;
        case '\r': *out += "\\r"; break;
        case '\t': *out += "\\t"; break;
        default:
            if (*p < 0x20 || *p == 0x7f) {
                char buf[8];
                snprintf(buf, sizeof(buf), "\\u%04X", *p);
                *out += buf;
            } else {
                out->push_back((char)*p);
            }
        }
    }
    out->push_back('"');
}

void newline(std::string *out, int depth)
{
    out->push_back('\n');
    out->append((size_t)depth * 4, ' ');
}

void append_scalar(std::string *out, JsonNode *node)
{
    if (JSON_NODE_HOLDS_NULL(node)) {
        *out += "null";
        return;
    }
    GType t = json_node_get_value_type(node);
    char buf[64];
    if (t == G_TYPE_INT64) {
        snprintf(buf, sizeof(buf), "%" PRId64, (int64_t)json_node_get_int(node));
        *out += buf;
    } else if (t == G_TYPE_BOOLEAN) {
        *out += json_node_get_boolean(node) ? "true" : "false";
    } else if (t == G_TYPE_DOUBLE) {
        snprintf(buf, sizeof(buf), "%.17g", json_node_get_double(node));
        *out += buf;
    } else {
        append_quoted(out, json_node_get_string(node));
    }
}

void append_node(std::string *out, JsonNode *node, int depth)
{
    if (JSON_NODE_HOLDS_OBJECT(node)) {
        JsonObject *obj = json_node_get_object(node);
        *out += "{";
        bool first = true;
        for (const char *key : ordered_members(obj)) {
            if (!first) *out += ",";
            first = false;
            newline(out, depth + 1);
            append_quoted(out, key);
            *out += ": ";
            append_node(out, json_object_get_member(obj, key), depth + 1);
        }
        newline(out, depth);
        *out += "}";
    } else if (JSON_NODE_HOLDS_ARRAY(node)) {
        JsonArray *arr = json_node_get_array(node);
        *out += "[";
        guint n = json_array_get_length(arr);
        for (guint i = 0; i < n; i++) {
            if (i) *out += ",";
            newline(out, depth + 1);
            append_node(out, json_array_get_element(arr, i), depth + 1);
        }
        newline(out, depth);
        *out += "]";
    } else {
        append_scalar(out, node);
    }
}

std::string human_key(const char *key)
{
    std::string k = key;
    std::replace(k.begin(), k.end(), '-', ' ');
    return k;
}

void dump_human_node(JsonNode *node, int indentation, const std::string &label);

void dump_human_array(JsonArray *arr, int indentation)
{
    guint n = json_array_get_length(arr);
    for (guint i = 0; i < n; i++) {
        dump_human_node(json_array_get_element(arr, i), indentation, "[" + std::to_string(i) + "]");
    }
}

void dump_human_node(JsonNode *node, int indentation, const std::string &label)
{
    if (JSON_NODE_HOLDS_OBJECT(node) || JSON_NODE_HOLDS_ARRAY(node)) {
        printf("%*s%s:\n", indentation * 4, "", label.c_str());
        if (JSON_NODE_HOLDS_OBJECT(node)) {
            img_dump_human(json_node_get_object(node), indentation + 1);
        } else {
            dump_human_array(json_node_get_array(node), indentation + 1);
        }
        return;
    }
    std::string v;
    if (JSON_NODE_HOLDS_VALUE(node) && json_node_get_value_type(node) == G_TYPE_STRING) {
        v = json_node_get_string(node);
    } else {
        append_scalar(&v, node);
    }
    printf("%*s%s: %s\n", indentation * 4, "", label.c_str(), v.c_str());
}

}  // namespace

std::string img_json_pretty(JsonNode *node)
{
    std::string out;
    append_node(&out, node, 0);
    return out;
}

void img_dump_human(JsonObject *obj, int indentation)
{
    for (const char *key : ordered_members(obj)) {
        dump_human_node(json_object_get_member(obj, key), indentation, human_key(key));
    }
}

void jb_int(JsonBuilder *b, const char *key, int64_t v)
{
    json_builder_set_member_name(b, key);
    json_builder_add_int_value(b, v);
}

void jb_str(JsonBuilder *b, const char *key, const char *v)
{
    json_builder_set_member_name(b, key);
    json_builder_add_string_value(b, v);
}

void jb_bool(JsonBuilder *b, const char *key, bool v)
{
    json_builder_set_member_name(b, key);
    json_builder_add_boolean_value(b, v);
}
