// key=value,key2=value2 option strings (QemuOpts syntax: ",," escapes a comma;
// "a.b=c" keys are kept flat with their dots).  Used by --image-opts, -o and -drive.
#pragma once

#include <map>
#include <string>

#include "util/error.h"

struct QDict {
    std::map<std::string, std::string> entries;
    bool has(const std::string &k) const { return entries.count(k) != 0; }
    const char *get(const std::string &k) const;  // nullptr if absent
    void set(const std::string &k, const std::string &v) { entries[k] = v; }
    bool del(const std::string &k) { return entries.erase(k) != 0; }
    // Moves entries "prefix.X" into a new dict as "X".
    QDict extract_subdict(const std::string &prefix);
};

// @implied_key: name for a leading bare value ("file.qcow2" -> file=file.qcow2),
// or nullptr to refuse one.  Returns false with errp set on syntax errors.
bool keyval_parse(const char *str, const char *implied_key, QDict *out, Error **errp);
// Parses on/off/true/false/yes/no.
bool keyval_parse_bool(const char *value, bool *out);
