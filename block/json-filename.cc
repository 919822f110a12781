// json: filenames: json-glib parses, we flatten into the option dictionary
// every open path already consumes.
#include "block/json-filename-int.h"

#include <json-glib/json-glib.h>

#include <cinttypes>
#include <cstring>
#include <string>

bool bdrv_is_json_filename(const char *filename)
{
    return filename && strncmp(filename, "json:", 5) == 0;
}

// QEMU's JSON lexer takes 'single-quoted' strings; json-glib does not.
// Rewrites them as double-quoted ones (escaping '"', unescaping "\'"),
// leaving everything else, double-quoted strings included, untouched.
static std::string double_quote_strings(const char *s)
{
    std::string out;
    char quote = 0;
    for (const char *p = s; *p; p++) {
        char c = *p;
        if (!quote) {
            if (c == '\'' || c == '"') {
                quote = c;
                out.push_back('"');
            } else {
                out.push_back(c);
            }
            continue;
        }
        if (c == '\\' && p[1]) {
            p++;
            if (quote == '\'' && *p == '\'') {
                out.push_back('\'');
            } else {
                out.push_back('\\');
                out.push_back(*p);
            }
        } else if (c == quote) {
            quote = 0;
            out.push_back('"');
        } else if (c == '"') {
            out.append("\\\"");  // a double quote inside a single-quoted string
        } else {
            out.push_back(c);
        }
    }
    return out;
}

static void flatten(JsonNode *node, const std::string &key, QDict *out);

static void flatten_object(JsonObject *obj, const std::string &prefix, QDict *out)
{
    GList *members = json_object_get_members(obj);
    for (GList *l = members; l; l = l->next) {
        const char *name = static_cast<const char *>(l->data);
        flatten(json_object_get_member(obj, name), prefix + name, out);
    }
    g_list_free(members);
}

static void flatten(JsonNode *node, const std::string &key, QDict *out)
{
    switch (JSON_NODE_TYPE(node)) {
    case JSON_NODE_OBJECT: flatten_object(json_node_get_object(node), key + ".", out); return;
    case JSON_NODE_ARRAY: {
        JsonArray *a = json_node_get_array(node);
        for (guint i = 0; i < json_array_get_length(a); i++) {
            flatten(json_array_get_element(a, i), key + "." + std::to_string(i), out);
        }
        return;
    }
    case JSON_NODE_NULL:
        // "backing": null says "no backing file"; the options dict holds
        // it as the empty string, which the open path reads the same way.
        if (!out->has(key)) {
            out->set(key, "");
        }
        return;
    case JSON_NODE_VALUE: break;
    }
    if (out->has(key)) {
        return;
    }
    GType t = json_node_get_value_type(node);
    if (t == G_TYPE_STRING) {
        out->set(key, json_node_get_string(node));
    } else if (t == G_TYPE_BOOLEAN) {
        out->set(key, json_node_get_boolean(node) ? "on" : "off");
    } else if (t == G_TYPE_INT64) {
        out->set(key, std::to_string(json_node_get_int(node)));
    } else {
        char buf[G_ASCII_DTOSTR_BUF_SIZE];
        out->set(key, g_ascii_dtostr(buf, sizeof(buf), json_node_get_double(node)));
    }
}

bool bdrv_parse_json_filename(const char *filename, QDict *out, Error **errp)
{
    std::string text = double_quote_strings(filename + strlen("json:"));
    JsonParser *parser = json_parser_new();
    GError *gerr = nullptr;
    bool ok = json_parser_load_from_data(parser, text.c_str(), (gssize)text.size(), &gerr);
    if (!ok) {
        error_setg(errp, "Could not parse the JSON options: JSON parse error, %s",
                   gerr ? gerr->message : "unexpected end of input");
        g_clear_error(&gerr);
        g_object_unref(parser);
        return false;
    }
    JsonNode *root = json_parser_get_root(parser);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
        error_setg(errp, "Invalid JSON object given");
        g_object_unref(parser);
        return false;
    }
    flatten_object(json_node_get_object(root), "", out);
    g_object_unref(parser);
    return true;
}
