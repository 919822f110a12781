// blkdebug config parsing and the event/state machine (see blkdebug-rules-int.h).
// Messages follow QEMU 7.2's blkdebug so scripts written against it match.
#include "block/blkdebug/blkdebug-rules-int.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "util/cutils.h"
#include "util/keyval.h"

namespace {

const char *const iotype_names[BLKDEBUG_IO__MAX] = {
    "read", "write", "write-zeroes", "discard", "flush", "block-status",
};

// QEMU's default when a rule names no iotype: every request kind but
// block-status.
constexpr uint32_t DEFAULT_IOTYPES = (1u << BLKDEBUG_IO_READ) | (1u << BLKDEBUG_IO_WRITE) |
                                     (1u << BLKDEBUG_IO_WRITE_ZEROES) |
                                     (1u << BLKDEBUG_IO_DISCARD) | (1u << BLKDEBUG_IO_FLUSH);

bool parse_int(const std::string &key, const std::string &v, int64_t *out, Error **errp)
{
    if (qemu_strtoi64(v.c_str(), out) < 0) {
        error_setg(errp, "Parameter '%s' expects a number", key.c_str());
        return false;
    }
    return true;
}

bool parse_bool(const std::string &key, const std::string &v, bool *out, Error **errp)
{
    if (!keyval_parse_bool(v.c_str(), out)) {
        error_setg(errp, "Parameter '%s' expects 'on' or 'off'", key.c_str());
        return false;
    }
    return true;
}

bool parse_iotype(const std::string &v, uint32_t *mask, Error **errp)
{
    for (int i = 0; i < BLKDEBUG_IO__MAX; i++) {
        if (v == iotype_names[i]) {
            *mask = 1u << i;
            return true;
        }
    }
    error_setg(errp, "invalid parameter value: %s", v.c_str());
    return false;
}

// One key of a rule.  Returns false with errp set on a bad key or value.
bool apply_key(BlkdebugRule *r, const std::string &k, const std::string &v, Error **errp)
{
    int64_t n = 0;
    bool inject = r->action == BlkdebugRule::INJECT_ERROR;
    if (k == "event") {
        if (!blkdebug_event_from_name(v.c_str(), &r->event)) {
            error_setg(errp, "invalid parameter value: %s", v.c_str());
            return false;
        }
    } else if (k == "state") {
        if (!parse_int(k, v, &n, errp)) return false;
        r->state = (int)n;
    } else if (inject && k == "errno") {
        if (!parse_int(k, v, &n, errp)) return false;
        if (n <= 0 || n > 4095) {
            error_setg(errp, "Parameter 'errno' expects a positive errno value");
            return false;
        }
        r->error = (int)n;
    } else if (inject && k == "sector") {
        if (!parse_int(k, v, &n, errp)) return false;
        r->offset = n < 0 ? -1 : n * 512;
    } else if (inject && k == "once") {
        return parse_bool(k, v, &r->once, errp);
    } else if (inject && k == "immediately") {
        return parse_bool(k, v, &r->immediately, errp);
    } else if (inject && k == "iotype") {
        return parse_iotype(v, &r->iotype_mask, errp);
    } else if (!inject && k == "new_state") {
        if (!parse_int(k, v, &n, errp)) return false;
        r->new_state = (int)n;
    } else {
        error_setg(errp, "Invalid parameter '%s'", k.c_str());
        return false;
    }
    return true;
}

// Strips blanks around @s.
std::string trim(const std::string &s)
{
    size_t b = s.find_first_not_of(" \t\r\n");
    size_t e = s.find_last_not_of(" \t\r\n");
    return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

}  // namespace

bool blkdebug_add_rule(const char *group,
                       const std::vector<std::pair<std::string, std::string>> &kv,
                       const std::string &where, BlkdebugRules *out, Error **errp)
{
    BlkdebugRule r;
    if (!strcmp(group, "inject-error")) {
        r.action = BlkdebugRule::INJECT_ERROR;
    } else if (!strcmp(group, "set-state")) {
        r.action = BlkdebugRule::SET_STATE;
    } else {
        error_setg(errp, "There is no option group '%s'", group);
        return false;
    }
    bool has_event = false, has_new_state = false;
    for (auto &p : kv) {
        if (!apply_key(&r, p.first, p.second, errp)) {
            return false;
        }
        has_event |= p.first == "event";
        has_new_state |= p.first == "new_state";
    }
    (void)where;
    if (!has_event) {
        error_setg(errp, "Missing event name for rule");
        return false;
    }
    if (r.action == BlkdebugRule::SET_STATE && !has_new_state) {
        error_setg(errp, "Parameter 'new_state' is missing");
        return false;
    }
    if (r.action == BlkdebugRule::INJECT_ERROR && !r.iotype_mask) {
        r.iotype_mask = DEFAULT_IOTYPES;
    }
    out->rules.push_back(r);
    return true;
}

// Flushes the section collected so far into @out.
static bool finish_group(std::string *group, std::vector<std::pair<std::string, std::string>> *kv,
                         const std::string &where, BlkdebugRules *out, Error **errp)
{
    bool ok = group->empty() || blkdebug_add_rule(group->c_str(), *kv, where, out, errp);
    group->clear();
    kv->clear();
    return ok;
}

bool blkdebug_read_config(const char *path, BlkdebugRules *out, Error **errp)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        error_setg_errno(errp, errno, "Could not read blkdebug config file");
        return false;
    }
    std::unique_ptr<FILE, int (*)(FILE *)> closer(f, fclose);
    std::string group, where;
    std::vector<std::pair<std::string, std::string>> kv;
    char line[1024];
    for (int lineno = 1; fgets(line, sizeof(line), f); lineno++) {
        std::string l = trim(line);
        if (l.empty() || l[0] == '#') {
            continue;
        }
        std::string here = std::string(path) + ":" + std::to_string(lineno);
        if (l[0] == '[') {
            if (!finish_group(&group, &kv, where, out, errp)) return false;
            size_t close = l.find(']');
            group = trim(l.substr(1, close == std::string::npos ? std::string::npos : close - 1));
            // QEMU allows [group "id"]: the id does not matter to blkdebug.
            group = group.substr(0, group.find_first_of(" \t\""));
            where = here;
            continue;
        }
        size_t eq = l.find('=');
        if (eq == std::string::npos || group.empty()) {
            error_setg(errp, "%s: parse error", here.c_str());
            return false;
        }
        std::string val = trim(l.substr(eq + 1));
        if (val.size() >= 2 && val.front() == '"' && val.back() == '"') {
            val = val.substr(1, val.size() - 2);
        }
        kv.emplace_back(trim(l.substr(0, eq)), val);
    }
    return finish_group(&group, &kv, where, out, errp);
}

void BlkdebugRules::event(BlkdebugEvent ev)
{
    int new_state = state;
    bool armed = false;
    for (size_t i = 0; i < rules.size(); i++) {
        BlkdebugRule &r = rules[i];
        if (r.removed || r.event != ev || (r.state && r.state != state)) {
            continue;
        }
        if (r.action == BlkdebugRule::SET_STATE) {
            new_state = r.new_state;
            continue;
        }
        // As QEMU: an event replaces the armed set with its own rules.
        if (!armed) {
            active.clear();
            armed = true;
        }
        active.insert(active.begin(), i);
    }
    state = new_state;
}

int BlkdebugRules::check(BlkdebugIOType type, int64_t offset, int64_t bytes, bool *immediately)
{
    for (auto it = active.begin(); it != active.end(); ++it) {
        BlkdebugRule &r = rules[*it];
        bool covers = r.offset < 0 || (bytes && r.offset >= offset && r.offset < offset + bytes);
        if (!covers || !(r.iotype_mask & (1u << type))) {
            continue;
        }
        *immediately = r.immediately;
        int err = r.error;
        if (r.once) {
            r.removed = true;
            active.erase(it);
        }
        return err;
    }
    return 0;
}
