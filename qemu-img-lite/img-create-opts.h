// Creation option lists (-o a=b,c=d) shared by create, convert and measure.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "util/util.h"

struct BlockDriver;

// Ordered name=value list; setting a name again replaces its value in place.
struct CreateOpts {
    std::vector<std::pair<std::string, std::string>> items;
    void set(const std::string &k, const std::string &v);
    const char *get(const std::string &k) const;  // nullptr if absent
    void del(const std::string &k);
};

// QemuOpts syntax: ",," escapes a comma, a bare name means name=on.  False
// on an empty name ("Invalid option list").
bool img_parse_option_list(const char *list, CreateOpts *out);
// Checks names and value types against @drv's options ("size" is always
// known); Size values are normalised to bytes.  Names @drv does not know are
// looked up in @proto's options when given (convert: format + protocol).
bool img_check_create_opts(const BlockDriver *drv, CreateOpts *opts, Error **errp,
                           const BlockDriver *proto = nullptr);
// qemu-img amend -o: every name must be one of @drv's amend options (QEMU's
// "Invalid parameter", with the creation-only hint), values checked.
bool img_check_amend_opts(const BlockDriver *drv, CreateOpts *opts, Error **errp);
// `-o help` of amend: "Amend options for 'fmt':" and the options, sorted.
void img_print_amend_help(const BlockDriver *drv);
// `-o help`: the format's options (plus the file protocol's when a target
// filename was given), sorted, in qemu-img's layout.
// @filename: the target, whose protocol's options are listed too
// (nullptr: the format's alone).
void img_print_create_help(const BlockDriver *drv, const char *filename);
// The protocol driver that will create @filename (file when unknown).
const BlockDriver *img_protocol_for(const char *filename);
// "Formatting 'f', fmt=qcow2 cluster_size=65536 ..." in qemu-img's order.
std::string img_formatting_line(const char *filename, const char *fmt, const CreateOpts &opts);
QDict img_create_opts_to_qdict(const CreateOpts &opts);
