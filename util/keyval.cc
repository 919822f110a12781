// QemuOpts-style option strings: "k=v,k2=v2", ",," escapes a comma in a
// value, an optional implied key takes a leading bare value, and a later
// bare "key" means key=on (as QemuOpts does for flags).
#include "util/keyval.h"

#include <cstring>

const char *QDict::get(const std::string &k) const
{
    auto it = entries.find(k);
    return it == entries.end() ? nullptr : it->second.c_str();
}

QDict QDict::extract_subdict(const std::string &prefix)
{
    QDict sub;
    std::string pfx = prefix + ".";
    auto it = entries.lower_bound(pfx);
    while (it != entries.end() && it->first.compare(0, pfx.size(), pfx) == 0) {
        sub.entries[it->first.substr(pfx.size())] = it->second;
        it = entries.erase(it);
    }
    return sub;
}

// Reads up to an unescaped ',' (or '=' when @stop_at_eq), unescaping ",,".
// Returns the position of the delimiter (or the terminating NUL).
static const char *read_token(const char *p, bool stop_at_eq, std::string *out)
{
    out->clear();
    for (; *p; p++) {
        if (stop_at_eq && *p == '=') {
            break;
        }
        if (*p == ',') {
            if (p[1] != ',') {
                break;
            }
            p++;  // ",," is a literal comma
        }
        out->push_back(*p);
    }
    return p;
}

bool keyval_parse(const char *str, const char *implied_key, QDict *out, Error **errp)
{
    const char *p = str;
    bool first = true;
    while (*p) {
        std::string key, value;
        const char *delim = read_token(p, true, &key);
        if (*delim == '=') {
            p = read_token(delim + 1, false, &value);
        } else if (first && implied_key) {
            value = key;  // bare leading value
            key = implied_key;
            p = delim;
        } else {
            if (key.empty()) {
                error_setg(errp, "Invalid parameter ''");
                return false;
            }
            value = "on";
            p = delim;
        }
        if (key.empty()) {
            error_setg(errp, "Invalid parameter ''");
            return false;
        }
        out->set(key, value);
        first = false;
        if (*p == ',') {
            p++;
        }
    }
    return true;
}

bool keyval_parse_bool(const char *value, bool *out)
{
    static const char *const yes[] = {"on", "yes", "true", "y"};
    static const char *const no[] = {"off", "no", "false", "n"};
    for (const char *s : yes) {
        if (strcmp(value, s) == 0) {
            *out = true;
            return true;
        }
    }
    for (const char *s : no) {
        if (strcmp(value, s) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}
