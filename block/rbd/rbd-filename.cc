// "rbd:" filenames and rbd node options (no librbd here: unit-testable
// without a cluster).
#include <json-glib/json-glib.h>

#include <algorithm>
#include <cstring>

#include "block/rbd/rbd-int.h"

namespace {

// Splits @s at the first @delim not escaped by a backslash: returns the part
// before it and leaves the rest in @rest (@has_rest false: no delimiter).
std::string next_tok(const std::string &s, char delim, std::string *rest, bool *has_rest)
{
    for (size_t i = 0; i < s.size(); i++) {
        if (s[i] == '\\' && i + 1 < s.size()) {
            i++;
            continue;
        }
        if (s[i] == delim) {
            *rest = s.substr(i + 1);
            *has_rest = true;
            return s.substr(0, i);
        }
    }
    rest->clear();
    *has_rest = false;
    return s;
}

bool has_unescaped(const std::string &s, char c)
{
    std::string rest;
    bool found;
    next_tok(s, c, &rest, &found);
    return found;
}

std::string unescape(const std::string &s)
{
    std::string out;
    for (size_t i = 0; i < s.size(); i++) {
        if (s[i] == '\\' && i + 1 < s.size()) i++;
        out += s[i];
    }
    return out;
}

std::string json_string(const std::string &s)
{
    std::string out = "\"";
    for (unsigned char c : s) {
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\t': out += "\\t"; break;
        case '\r': out += "\\r"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default:
            if (c < 0x20) {
                char buf[8];
                snprintf(buf, sizeof(buf), "\\u%04x", c);
                out += buf;
            } else {
                out += char(c);
            }
        }
    }
    return out + "\"";
}

// QEMU's QDict bucket of a key: its JSON output walks buckets in order.
unsigned qdict_bucket(const std::string &name)
{
    unsigned value = 0x238F13AFu * unsigned(name.size());
    for (size_t i = 0; i < name.size(); i++) {
        value = value + (unsigned(uint8_t(name[i])) << (i * 5 % 24));
    }
    return (1103515243u * value + 12345u) % 512;
}

std::string keypairs_to_json(const std::vector<std::pair<std::string, std::string>> &kv)
{
    std::string out = "[";
    for (size_t i = 0; i < kv.size(); i++) {
        if (i) out += ", ";
        out += json_string(kv[i].first) + ", " + json_string(kv[i].second);
    }
    return out + "]";
}

bool keypairs_from_json(const char *text, RbdOptions *out, Error **errp)
{
    JsonParser *parser = json_parser_new();
    bool ok = json_parser_load_from_data(parser, text, -1, nullptr);
    JsonNode *root = ok ? json_parser_get_root(parser) : nullptr;
    ok = root && JSON_NODE_HOLDS_ARRAY(root);
    if (ok) {
        JsonArray *a = json_node_get_array(root);
        guint n = json_array_get_length(a);
        ok = n % 2 == 0;
        for (guint i = 0; ok && i < n; i += 2) {
            JsonNode *k = json_array_get_element(a, i);
            JsonNode *v = json_array_get_element(a, i + 1);
            ok = json_node_get_value_type(k) == G_TYPE_STRING &&
                 json_node_get_value_type(v) == G_TYPE_STRING;
            if (ok) out->keypairs.emplace_back(json_node_get_string(k), json_node_get_string(v));
        }
    }
    g_object_unref(parser);
    if (!ok) error_setg(errp, "Invalid value for '%s'", kRbdKeypairsKey);
    return ok;
}

}  // namespace

void rbd_parse_filename(const char *filename, QDict *options, Error **errp)
{
    if (strncmp(filename, "rbd:", 4) != 0) {
        error_setg(errp, "File name must start with 'rbd:'");
        return;
    }
    std::string p = filename + 4, rest, image;
    bool more;
    std::string pool = next_tok(p, '/', &rest, &more);
    if (!more) {
        error_setg(errp, "Pool name is required");
        return;
    }
    QDict out;
    out.set("pool", unescape(pool));
    p = rest;
    if (has_unescaped(p, '@')) {
        image = next_tok(p, '@', &rest, &more);
        p = rest;
        out.set("snapshot", unescape(next_tok(p, ':', &rest, &more)));
    } else {
        image = next_tok(p, ':', &rest, &more);
    }
    p = rest;
    if (has_unescaped(image, '/')) {
        std::string img_rest;
        bool m;
        out.set("namespace", unescape(next_tok(image, '/', &img_rest, &m)));
        image = img_rest;
    } else {
        out.set("namespace", "");
    }
    out.set("image", unescape(image));
    std::vector<std::pair<std::string, std::string>> kv;
    while (more) {
        std::string name = next_tok(p, '=', &rest, &more);
        if (!more) {
            error_setg(errp, "conf option %s has no value", name.c_str());
            return;
        }
        name = unescape(name);
        p = rest;
        std::string value = unescape(next_tok(p, ':', &rest, &more));
        p = rest;
        if (name == "conf") {
            out.set("conf", value);
        } else if (name == "id") {
            out.set("user", value);
        } else {
            kv.emplace_back(name, value);
        }
    }
    if (!kv.empty()) out.set(kRbdKeypairsKey, keypairs_to_json(kv));
    for (auto &e : out.entries) {
        if (!options->has(e.first)) options->set(e.first, e.second);
    }
}

bool rbd_take_options(QDict *o, RbdOptions *out, Error **errp)
{
    auto take = [&](const char *key, std::string *dst, bool *has) {
        const char *v = o->get(key);
        if (has) *has = v != nullptr;
        if (v) {
            *dst = v;
            o->del(key);
        }
    };
    bool has_pool, has_image;
    take("pool", &out->pool, &has_pool);
    take("image", &out->image, &has_image);
    take("namespace", &out->ns, &out->has_ns);
    take("snapshot", &out->snapshot, &out->has_snapshot);
    take("conf", &out->conf, &out->has_conf);
    take("user", &out->user, &out->has_user);
    o->del("filename");
    if (!has_pool) {
        error_setg(errp, "Parameter 'pool' is missing");
        return false;
    }
    if (!has_image) {
        error_setg(errp, "Parameter 'image' is missing");
        return false;
    }
    if (const char *kv = o->get(kRbdKeypairsKey)) {
        std::string text = kv;
        o->del(kRbdKeypairsKey);
        if (!keypairs_from_json(text.c_str(), out, errp)) return false;
    }
    return true;
}

std::string rbd_json_object(const RbdOptions &opts)
{
    std::vector<std::pair<std::string, std::string>> m = {
        {"driver", "rbd"}, {"pool", opts.pool}, {"image", opts.image}};
    if (opts.has_ns) m.emplace_back("namespace", opts.ns);
    if (opts.has_conf) m.emplace_back("conf", opts.conf);
    if (opts.has_user) m.emplace_back("user", opts.user);
    if (opts.has_snapshot) m.emplace_back("snapshot", opts.snapshot);
    std::stable_sort(m.begin(), m.end(), [](const auto &a, const auto &b) {
        return qdict_bucket(a.first) < qdict_bucket(b.first);
    });
    std::string out = "{";
    for (size_t i = 0; i < m.size(); i++) {
        if (i) out += ", ";
        out += json_string(m[i].first) + ": " + json_string(m[i].second);
    }
    return out + "}";
}

std::string rbd_json_filename(const RbdOptions &opts) { return "json:" + rbd_json_object(opts); }

bool rbd_check_object_size(uint64_t size, Error **errp)
{
    if (size & (size - 1)) {
        error_setg(errp, "obj size needs to be power of 2");
        return false;
    }
    if (size < 4096) {
        error_setg(errp, "obj size too small");
        return false;
    }
    return true;
}
